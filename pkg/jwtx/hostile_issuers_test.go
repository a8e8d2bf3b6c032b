package jwtx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// TestHostileTokens_BesideOtherIssuers runs the whole corpus against
// validators that also accept another issuer of every algorithm (keys in
// memory, and an HS256 secret): adding issuers changes no outcome for this
// project's tokens, so it never widens what is accepted.
func TestHostileTokens_BesideOtherIssuers(t *testing.T) {
	f := newHostileFixture(t)
	cases := f.corpus(t)
	idp := jwtxtest.NewIssuer(t, f.k.Now)
	ext := staticIssuer(t, idp)
	ext.HMACKeys = map[string][]byte{"hs": []byte("0123456789abcdef0123456789abcdef")}
	ext.Algorithms = []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA, jwtx.AlgHS256}
	store := jwtxtest.NewMemoryStore()
	vs := validators{}
	for _, tc := range cases {
		if vs[tc.config()] != nil {
			continue
		}
		cfg := f.k.Config(store)
		cfg.AcceptLegacy, cfg.MaxTokenSize = tc.legacy, tc.maxSize
		cfg.Issuers = []jwtx.Issuer{ext}
		vs[tc.config()] = mustValidator(t, cfg)
	}
	before := idp.Requests()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := vs.of(tc).Validate(context.Background(), tc.token)
			checkOutcome(t, tc, c, err)
		})
	}
	if r, c := f.keyHits.requests.Load(), f.keyHits.conns.Load(); r != 0 || c != 0 {
		t.Errorf("jku/x5u key server: %d requests, %d connections", r, c)
	}
	if got := idp.Requests() - before; got != 0 {
		t.Errorf("the other issuer's server was asked %d times", got)
	}
}

// TestHostileTokens_EveryAlgorithm holds another issuer's tokens of every
// algorithm to the RFC 8725 rules of the corpus: each attack, signed with
// the issuer's real key of that algorithm, is refused with its reason.
func TestHostileTokens_EveryAlgorithm(t *testing.T) {
	k := fixedKit(t)
	idp := jwtxtest.NewIssuer(t, k.Now)
	attacker := jwtxtest.NewIssuer(t, k.Now)
	keyURL, keyHits := countingServer(t, string(attacker.JWKS()))
	cfg := jwtx.Config{Issuers: []jwtx.Issuer{staticIssuer(t, idp)}, Revocation: jwtxtest.NewMemoryStore(), Now: k.Now}
	v := mustValidator(t, cfg)
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			hdr := func(changes map[string]any) string {
				h := map[string]any{"alg": alg, "typ": "JWT", "kid": idp.KeyID(alg), "jku": keyURL, "x5u": keyURL}
				return mustJSON(apply(h, changes))
			}
			cl := func(changes map[string]any) string {
				c := idp.Claims("auth0|victim", extAudience)
				return mustJSON(apply(c, changes))
			}
			sign := func(signer *jwtxtest.Issuer, h, c string) string {
				tok, err := signer.SignRaw(alg, h, c)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			good := sign(idp, hdr(nil), cl(nil))
			if _, err := v.Validate(ctx, good); err != nil {
				t.Fatalf("well-formed token: %v", err)
			}
			parts := strings.Split(good, ".")
			sigBytes, _ := enc.DecodeString(parts[2])
			withSig := func(sig []byte) string { return parts[0] + "." + parts[1] + "." + enc.EncodeToString(sig) }
			flipped := append([]byte(nil), sigBytes...)
			flipped[len(flipped)/2] ^= 1
			for _, tc := range []struct {
				name  string
				token string
				want  error
			}{
				{"SignedByAttackerUnderOurKid", sign(attacker, hdr(nil), cl(nil)), jwtx.ErrBadSignature},
				{"AttackerKidAndJWKS", sign(attacker, hdr(map[string]any{"kid": "attacker"}), cl(nil)), jwtx.ErrUnknownKey},
				{"EmbeddedJWK", sign(attacker, hdr(map[string]any{"jwk": map[string]any{"kty": "oct", "k": "AAAA"}}), cl(nil)), jwtx.ErrBadSignature},
				{"SignatureBitFlipped", withSig(flipped), jwtx.ErrBadSignature},
				{"SignatureTruncated", withSig(sigBytes[:len(sigBytes)-1]), jwtx.ErrBadSignature},
				{"SignatureZeros", withSig(make([]byte, len(sigBytes))), jwtx.ErrBadSignature},
				{"SignatureEmpty", parts[0] + "." + parts[1] + ".", jwtx.ErrBadSignature},
				{"PayloadSwapped", parts[0] + "." + b64(cl(map[string]any{"sub": "auth0|attacker"})) + "." + parts[2], jwtx.ErrBadSignature},
				{"AlgNone", b64(hdr(map[string]any{"alg": "none"})) + "." + parts[1] + ".", jwtx.ErrAlgorithmNotAllowed},
				{"AlgLowerCase", sign(idp, hdr(map[string]any{"alg": strings.ToLower(alg)}), cl(nil)), jwtx.ErrAlgorithmNotAllowed},
				{"Crit", sign(idp, hdr(map[string]any{"crit": []string{"exp"}}), cl(nil)), jwtx.ErrCriticalHeader},
				{"TypIDToken", sign(idp, hdr(map[string]any{"typ": "id_token+jwt"}), cl(nil)), jwtx.ErrWrongType},
				{"NoKid", sign(idp, hdr(map[string]any{"kid": nil}), cl(nil)), jwtx.ErrUnknownKey},
				{"Expired", sign(idp, hdr(nil), cl(map[string]any{"exp": now.Add(-time.Hour).Unix()})), jwtx.ErrExpired},
				{"NoExp", sign(idp, hdr(nil), cl(map[string]any{"exp": nil})), jwtx.ErrMalformedToken},
				{"NotYetValid", sign(idp, hdr(nil), cl(map[string]any{"nbf": now.Add(time.Hour).Unix()})), jwtx.ErrNotYetValid},
				{"WrongAudience", sign(idp, hdr(nil), cl(map[string]any{"aud": "other"})), jwtx.ErrWrongAudience},
				{"WrongIssuer", sign(idp, hdr(nil), cl(map[string]any{"iss": idp.URL + "/"})), jwtx.ErrWrongIssuer},
				{"SubCaseVariant", sign(idp, hdr(nil), cl(nil)[:len(cl(nil))-1]+`,"Sub":"admin"}`), jwtx.ErrMalformedToken},
				{"DuplicateSub", sign(idp, hdr(nil), cl(nil)[:len(cl(nil))-1]+`,"sub":"admin"}`), jwtx.ErrMalformedToken},
				{"SubNUL", sign(idp, hdr(nil), cl(map[string]any{"sub": "victim\x00admin"})), jwtx.ErrMalformedToken},
				{"NoJTI", sign(idp, hdr(nil), cl(map[string]any{"jti": nil})), jwtx.ErrLegacyToken},
				{"TooLarge", sign(idp, hdr(nil), cl(map[string]any{"pad": strings.Repeat("A", jwtx.DefaultMaxTokenSize)})), jwtx.ErrTokenTooLarge},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c, err := v.Validate(ctx, tc.token)
					checkOutcome(t, hostileCase{name: tc.name, want: tc.want, reason: alg + " " + tc.name}, c, err)
				})
			}
		})
	}
	if r := keyHits.requests.Load(); r != 0 {
		t.Errorf("jku/x5u key server asked %d times", r)
	}
}
