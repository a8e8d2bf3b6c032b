package jwtx_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

var enc = base64.RawURLEncoding

// unsigned returns header.payload. with the given signature bytes.
func unsigned(hdr, payload string, sig []byte) string {
	return enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// hmacToken signs with HS256 using secret, the key-confusion attack.
func hmacToken(hdr, payload string, secret []byte) string {
	input := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// keyServer is an httptest server that counts hits: it must stay at 0,
// keys are never fetched from token headers.
func keyServer(t *testing.T, body string) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json", hits
}

func TestValidator_Parse(t *testing.T) {
	k := fixedKit(t)
	kid := k.Signer.KeyID()
	attacker := jwtxtest.New(t, jwtxtest.WithNow(k.Now))
	attackerJWKS, err := attacker.Keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	jwksURL, hits := keyServer(t, string(attackerJWKS))
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(attacker.Signer.PublicKey())}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es256, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": k.Issuer, "sub": testSub, "aud": k.Audience, "exp": now.Add(time.Hour).Unix(), "jti": testJTI, "ver": 0,
	}).SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	es256 = reheader(t, es256, kid) // known kid: only the alg is wrong

	good := kitToken(k, nil, nil)
	parts := strings.Split(good, ".")
	flipped := []byte(parts[2])
	flipped[3] ^= 1
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	shallow := strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10)
	pl := claims(k, nil)
	plNoClose := pl[:len(pl)-1]

	tests := []struct {
		name   string
		token  string
		legacy bool   // AcceptLegacy
		want   error  // nil: accepted
		ver    int64  // expected Version when accepted
		jti    string // expected ID when accepted
	}{
		{name: "OK", token: good, jti: testJTI},
		{name: "OKIssuedBySigner", token: k.Token(t, testSub, 3), ver: 3, jti: "*"},
		{name: "OKTypApplication", token: kitToken(k, map[string]any{"typ": "application/AT+JWT"}, nil), jti: testJTI},
		{name: "OKTypUpper", token: kitToken(k, map[string]any{"typ": "AT+JWT"}, nil), jti: testJTI},
		{name: "OKAudArray", token: kitToken(k, nil, map[string]any{"aud": []string{"other", k.Audience}}), jti: testJTI},
		{name: "OKFractionalExp", token: kitToken(k, nil, map[string]any{"exp": float64(now.Unix()) + 60.5}), jti: testJTI},
		{name: "OKJkuIgnoredKnownKid", token: kitToken(k, map[string]any{"jku": jwksURL, "x5u": jwksURL}, nil), jti: testJTI},
		{name: "OKJwkHeaderIgnored", token: kitToken(k, map[string]any{"jwk": attackerJWK}, nil), jti: testJTI},
		{name: "OKNestedCustomClaim", token: k.SignRaw(header(kid, nil), claims(k, nil)[:len(pl)-1]+`,"x":`+shallow+`}`), jti: testJTI},

		// Algorithms (RFC 8725 3.1, 3.2).
		{name: "AlgNone", token: unsigned(header(kid, map[string]any{"alg": "none"}), pl, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgNoneTitle", token: unsigned(header(kid, map[string]any{"alg": "None"}), pl, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgNoneUpper", token: unsigned(header(kid, map[string]any{"alg": "NONE"}), pl, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgNoneMixed", token: unsigned(header(kid, map[string]any{"alg": "nOnE"}), pl, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgNoneSignedByUs", token: k.SignRaw(header(kid, map[string]any{"alg": "none"}), pl), want: jwtx.ErrInvalidToken},
		{name: "AlgMissing", token: kitToken(k, map[string]any{"alg": nil}, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgLowercaseEddsa", token: kitToken(k, map[string]any{"alg": "eddsa"}, nil), want: jwtx.ErrInvalidToken},
		{name: "AlgEd25519Name", token: kitToken(k, map[string]any{"alg": "Ed25519"}, nil), want: jwtx.ErrInvalidToken},
		{name: "HS256PublicKeyAsSecret", token: hmacToken(header(kid, map[string]any{"alg": "HS256"}), pl, k.Signer.PublicKey()), want: jwtx.ErrInvalidToken},
		{name: "HS256PublicKeyB64AsSecret", token: hmacToken(header(kid, map[string]any{"alg": "HS256"}), pl, []byte(enc.EncodeToString(k.Signer.PublicKey()))), want: jwtx.ErrInvalidToken},
		{name: "ES256", token: es256, want: jwtx.ErrInvalidToken},
		{name: "RS256", token: unsigned(header(kid, map[string]any{"alg": "RS256"}), pl, make([]byte, 256)), want: jwtx.ErrInvalidToken},

		// Keys (RFC 8725 3.10): only the kid, only the KeySet.
		{name: "UnknownKid", token: attacker.SignRaw(header(attacker.Signer.KeyID(), nil), pl), want: jwtx.ErrUnknownKey},
		{name: "MissingKid", token: kitToken(k, map[string]any{"kid": nil}, nil), want: jwtx.ErrUnknownKey},
		{name: "EmptyKid", token: kitToken(k, map[string]any{"kid": ""}, nil), want: jwtx.ErrUnknownKey},
		{name: "KidNotString", token: kitToken(k, map[string]any{"kid": 7}, nil), want: jwtx.ErrUnknownKey},
		{name: "UnknownKidWithJku", token: attacker.SignRaw(header(attacker.Signer.KeyID(), map[string]any{"jku": jwksURL}), pl), want: jwtx.ErrUnknownKey},
		{name: "UnknownKidWithX5u", token: attacker.SignRaw(header(attacker.Signer.KeyID(), map[string]any{"x5u": jwksURL}), pl), want: jwtx.ErrUnknownKey},
		{name: "UnknownKidWithJwk", token: attacker.SignRaw(header(attacker.Signer.KeyID(), map[string]any{"jwk": attackerJWK}), pl), want: jwtx.ErrUnknownKey},
		{name: "KnownKidAttackerJwk", token: attacker.SignRaw(header(kid, map[string]any{"jwk": attackerJWK, "jku": jwksURL}), pl), want: jwtx.ErrBadSignature},

		// Header members.
		{name: "CritUnknown", token: kitToken(k, map[string]any{"crit": []string{"x-ext"}, "x-ext": true}, nil), want: jwtx.ErrInvalidToken},
		{name: "CritEmpty", token: kitToken(k, map[string]any{"crit": []string{}}, nil), want: jwtx.ErrInvalidToken},
		{name: "CritB64", token: kitToken(k, map[string]any{"crit": []string{"b64"}, "b64": false}, nil), want: jwtx.ErrInvalidToken},
		{name: "CritCaseVariant", token: kitToken(k, map[string]any{"CRIT": []string{"exp"}}, nil), want: jwtx.ErrMalformedToken},
		{name: "TypJWT", token: kitToken(k, map[string]any{"typ": "JWT"}, nil), want: jwtx.ErrInvalidToken},
		{name: "TypMissing", token: kitToken(k, map[string]any{"typ": nil}, nil), want: jwtx.ErrInvalidToken},
		{name: "TypNotString", token: kitToken(k, map[string]any{"typ": 1}, nil), want: jwtx.ErrInvalidToken},
		{name: "HeaderDuplicateAlg", token: k.SignRaw(`{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"`+kid+`"}`, pl), want: jwtx.ErrMalformedToken},
		{name: "HeaderAlgCaseVariant", token: k.SignRaw(`{"ALG":"EdDSA","typ":"at+jwt","kid":"`+kid+`"}`, pl), want: jwtx.ErrMalformedToken},
		{name: "HeaderArray", token: k.SignRaw(`["EdDSA"]`, pl), want: jwtx.ErrMalformedToken},

		// Time (RFC 7519 4.1.4, 4.1.5, 4.1.6) with the default 30s leeway.
		{name: "Expired", token: kitToken(k, nil, map[string]any{"exp": now.Add(-time.Hour).Unix()}), want: jwtx.ErrExpired},
		{name: "ExpiredWithinLeeway", token: kitToken(k, nil, map[string]any{"exp": now.Add(-29 * time.Second).Unix()}), jti: testJTI},
		// RFC 7519 4.1.4: the current time must be before exp (+ leeway).
		{name: "ExpiredAtLeeway", token: kitToken(k, nil, map[string]any{"exp": now.Add(-30 * time.Second).Unix()}), want: jwtx.ErrExpired},
		{name: "ExpiredBeyondLeeway", token: kitToken(k, nil, map[string]any{"exp": now.Add(-31 * time.Second).Unix()}), want: jwtx.ErrExpired},
		{name: "NotYetValid", token: kitToken(k, nil, map[string]any{"nbf": now.Add(time.Minute).Unix()}), want: jwtx.ErrNotYetValid},
		{name: "NbfWithinLeeway", token: kitToken(k, nil, map[string]any{"nbf": now.Add(30 * time.Second).Unix()}), jti: testJTI},
		{name: "NbfBeyondLeeway", token: kitToken(k, nil, map[string]any{"nbf": now.Add(31 * time.Second).Unix()}), want: jwtx.ErrNotYetValid},
		{name: "IatFuture", token: kitToken(k, nil, map[string]any{"iat": now.Add(time.Hour).Unix(), "nbf": nil}), want: jwtx.ErrNotYetValid},
		{name: "IatWithinLeeway", token: kitToken(k, nil, map[string]any{"iat": now.Add(30 * time.Second).Unix(), "nbf": nil}), jti: testJTI},
		{name: "IatBeyondLeeway", token: kitToken(k, nil, map[string]any{"iat": now.Add(31 * time.Second).Unix(), "nbf": nil}), want: jwtx.ErrNotYetValid},
		{name: "ExpMissing", token: kitToken(k, nil, map[string]any{"exp": nil}), want: jwtx.ErrInvalidToken},
		{name: "ExpString", token: kitToken(k, nil, map[string]any{"exp": "1700000900"}), want: jwtx.ErrMalformedToken},
		{name: "ExpNull", token: k.SignRaw(header(kid, nil), plNoClose+`,"exp":null}`), want: jwtx.ErrMalformedToken},
		{name: "ExpHuge", token: k.SignRaw(header(kid, nil), strings.Replace(pl, `"exp":`, `"exp":1e400,"x":`, 1)), want: jwtx.ErrMalformedToken},
		{name: "ExpNegative", token: kitToken(k, nil, map[string]any{"exp": -1}), want: jwtx.ErrMalformedToken},
		{name: "NbfString", token: kitToken(k, nil, map[string]any{"nbf": "0"}), want: jwtx.ErrMalformedToken},
		{name: "IatBool", token: kitToken(k, nil, map[string]any{"iat": true}), want: jwtx.ErrMalformedToken},

		// Issuer and audience.
		{name: "WrongIss", token: kitToken(k, nil, map[string]any{"iss": "https://evil.test"}), want: jwtx.ErrInvalidToken},
		{name: "MissingIss", token: kitToken(k, nil, map[string]any{"iss": nil}), want: jwtx.ErrInvalidToken},
		{name: "IssNotString", token: kitToken(k, nil, map[string]any{"iss": []string{k.Issuer}}), want: jwtx.ErrMalformedToken},
		{name: "WrongAudString", token: kitToken(k, nil, map[string]any{"aud": "other"}), want: jwtx.ErrInvalidToken},
		{name: "WrongAudArray", token: kitToken(k, nil, map[string]any{"aud": []string{"a", "b"}}), want: jwtx.ErrInvalidToken},
		{name: "EmptyAudArray", token: kitToken(k, nil, map[string]any{"aud": []string{}}), want: jwtx.ErrInvalidToken},
		{name: "MissingAud", token: kitToken(k, nil, map[string]any{"aud": nil}), want: jwtx.ErrInvalidToken},
		{name: "AudNumber", token: kitToken(k, nil, map[string]any{"aud": 1}), want: jwtx.ErrMalformedToken},
		{name: "AudArrayWithNumber", token: kitToken(k, nil, map[string]any{"aud": []any{k.Audience, 1}}), want: jwtx.ErrMalformedToken},

		// Identifiers and version.
		{name: "JtiNotUUID", token: kitToken(k, nil, map[string]any{"jti": "abc"}), want: jwtx.ErrMalformedToken},
		{name: "JtiUpperCase", token: kitToken(k, nil, map[string]any{"jti": strings.ToUpper(testJTI)}), want: jwtx.ErrMalformedToken},
		{name: "JtiEmpty", token: kitToken(k, nil, map[string]any{"jti": ""}), legacy: true, want: jwtx.ErrMalformedToken},
		{name: "JtiNumber", token: kitToken(k, nil, map[string]any{"jti": 5}), want: jwtx.ErrMalformedToken},
		{name: "SubNotUUID", token: kitToken(k, nil, map[string]any{"sub": "alice"}), want: jwtx.ErrMalformedToken},
		{name: "SubURN", token: kitToken(k, nil, map[string]any{"sub": "urn:uuid:" + testSub}), want: jwtx.ErrMalformedToken},
		{name: "SubNoHyphens", token: kitToken(k, nil, map[string]any{"sub": strings.ReplaceAll(testSub, "-", "")}), want: jwtx.ErrMalformedToken},
		{name: "SubUpperCase", token: kitToken(k, nil, map[string]any{"sub": strings.ToUpper(testSub)}), want: jwtx.ErrMalformedToken},
		{name: "SubMissing", token: kitToken(k, nil, map[string]any{"sub": nil}), want: jwtx.ErrMalformedToken},
		{name: "VerMissing", token: kitToken(k, nil, map[string]any{"ver": nil}), want: jwtx.ErrMalformedToken},
		{name: "VerNegative", token: kitToken(k, nil, map[string]any{"ver": -1}), want: jwtx.ErrMalformedToken},
		{name: "VerFraction", token: kitToken(k, nil, map[string]any{"ver": 1.5}), want: jwtx.ErrMalformedToken},
		{name: "VerString", token: kitToken(k, nil, map[string]any{"ver": "1"}), want: jwtx.ErrMalformedToken},
		{name: "VerOverflow", token: k.SignRaw(header(kid, nil), strings.Replace(pl, `"ver":0`, `"ver":9223372036854775808`, 1)), want: jwtx.ErrMalformedToken},

		// Smuggling (duplicate and case-variant members).
		{name: "DuplicateExp", token: k.SignRaw(header(kid, nil), plNoClose+`,"exp":4102444800}`), want: jwtx.ErrMalformedToken},
		{name: "DuplicateJTICase", token: k.SignRaw(header(kid, nil), plNoClose+`,"JTI":"`+testSub+`"}`), want: jwtx.ErrMalformedToken},
		{name: "DuplicateSubLongS", token: k.SignRaw(header(kid, nil), plNoClose+`,"ſub":"`+testJTI+`"}`), want: jwtx.ErrMalformedToken},
		{name: "CaseVariantJTIAlone", token: kitToken(k, nil, map[string]any{"jti": nil, "JTI": testJTI}), legacy: true, want: jwtx.ErrMalformedToken},
		{name: "DuplicateNested", token: k.SignRaw(header(kid, nil), plNoClose+`,"x":{"a":1,"A":2}}`), want: jwtx.ErrMalformedToken},
		{name: "TooDeep", token: k.SignRaw(header(kid, nil), plNoClose+`,"x":`+deep+`}`), want: jwtx.ErrMalformedToken},
		{name: "PayloadArray", token: k.SignRaw(header(kid, nil), `[`+pl+`]`), want: jwtx.ErrMalformedToken},
		{name: "PayloadNull", token: k.SignRaw(header(kid, nil), `null`), want: jwtx.ErrMalformedToken},
		{name: "PayloadTrailingData", token: k.SignRaw(header(kid, nil), pl+`{}`), want: jwtx.ErrMalformedToken},
		{name: "PayloadNotJSON", token: k.SignRaw(header(kid, nil), `{"exp":`), want: jwtx.ErrMalformedToken},

		// Shape and encoding.
		{name: "Empty", token: "", want: jwtx.ErrMalformedToken},
		{name: "TwoSegments", token: parts[0] + "." + parts[1], want: jwtx.ErrMalformedToken},
		{name: "FourSegments", token: good + ".x", want: jwtx.ErrMalformedToken},
		{name: "BadBase64Header", token: "!!!." + parts[1] + "." + parts[2], want: jwtx.ErrMalformedToken},
		{name: "BadBase64Payload", token: parts[0] + ".***." + parts[2], want: jwtx.ErrMalformedToken},
		{name: "PaddedHeader", token: parts[0] + "=." + parts[1] + "." + parts[2], want: jwtx.ErrMalformedToken},
		{name: "BadBase64Signature", token: parts[0] + "." + parts[1] + ".@@@", want: jwtx.ErrInvalidToken},
		{name: "SignatureFlipped", token: parts[0] + "." + parts[1] + "." + string(flipped), want: jwtx.ErrInvalidToken},
		{name: "SignatureEmpty", token: parts[0] + "." + parts[1] + ".", want: jwtx.ErrBadSignature},
		{name: "PayloadSwapped", token: parts[0] + "." + enc.EncodeToString([]byte(claims(k, map[string]any{"ver": 9}))) + "." + parts[2], want: jwtx.ErrBadSignature},
		{name: "SignedByOtherKeyWithOurKid", token: attacker.SignRaw(header(kid, nil), pl), want: jwtx.ErrBadSignature},
		{name: "Oversize", token: kitToken(k, nil, map[string]any{"pad": strings.Repeat("a", jwtx.DefaultMaxTokenSize)}), want: jwtx.ErrTokenTooLarge},

		// Legacy tokens (no jti).
		{name: "LegacyRejected", token: kitToken(k, nil, map[string]any{"jti": nil, "ver": nil}), want: jwtx.ErrLegacyToken},
		{name: "LegacyAccepted", token: kitToken(k, nil, map[string]any{"jti": nil, "ver": nil}), legacy: true},
		{name: "LegacyWithVer", token: kitToken(k, nil, map[string]any{"jti": nil, "ver": 2}), legacy: true, ver: 2},
		{name: "LegacyNoIatNbf", token: kitToken(k, nil, map[string]any{"jti": nil, "ver": nil, "iat": nil, "nbf": nil}), legacy: true},
		{name: "LegacyStillChecksExp", token: kitToken(k, nil, map[string]any{"jti": nil, "ver": nil, "exp": now.Add(-time.Hour).Unix()}), legacy: true, want: jwtx.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.Config(nil)
			cfg.AcceptLegacy = tc.legacy
			v := mustValidator(t, cfg)
			c, err := v.Parse(tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v, want success", err)
				}
				if c.Subject != testSub || c.Version != tc.ver || (tc.jti != "*" && c.ID != tc.jti) {
					t.Errorf("claims sub=%q ver=%d jti=%q, want %q %d %q", c.Subject, c.Version, c.ID, testSub, tc.ver, tc.jti)
				}
				if got, want := c.Legacy(), tc.jti == ""; got != want {
					t.Errorf("Legacy() = %v, want %v", got, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted the token, want %v", tc.want)
			}
			t.Logf("rejected: %v", err)
			if c != nil {
				t.Errorf("Parse returned claims %+v with error %v", c, err)
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, jwtx.ErrInvalidToken) {
				t.Errorf("Parse error %q, want %q (and ErrInvalidToken)", err, tc.want)
			}
			if errors.Is(err, jwtx.ErrRevoked) || errors.Is(err, jwtx.ErrRevocationUnavailable) {
				t.Errorf("Parse error %q matches a revocation error", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("key server hit %d times: keys were fetched from a token header", n)
	}
}

// reheader replaces the header of a golang-jwt token with one naming kid.
func reheader(t *testing.T, token, kid string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := enc.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Replace(string(raw), `"typ":"JWT"`, `"typ":"at+jwt","kid":"`+kid+`"`, 1)
	// The ES256 signature no longer matches the header: irrelevant, the alg
	// must be refused before any signature check.
	return enc.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
}
