package jwtx_test

import (
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// timeCases: exp, nbf and iat around the 30 s default leeway (RFC 7519
// 4.1.4-4.1.6: the current time must be before exp, and at or after nbf),
// and time claims of the wrong type or out of range.
func (f *hostileFixture) timeCases() []hostileCase {
	lw := jwtx.DefaultLeeway
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tok := func(cl map[string]any) string { return f.token(nil, cl) }
	raw := func(member string) string {
		pl := f.claims(map[string]any{"exp": nil})
		return f.k.SignRaw(f.header(nil), pl[:len(pl)-1]+","+member+"}")
	}
	return []hostileCase{
		{name: "Exp/LeewayMinus1s", token: tok(map[string]any{"exp": at(-lw + time.Second)}), want: nil,
			reason: "boundary: expired 29 s ago, inside the 30 s leeway: accepted"},
		{name: "Exp/AtLeeway", token: tok(map[string]any{"exp": at(-lw)}), want: jwtx.ErrExpired,
			reason: "boundary: expired exactly 30 s ago; now must be strictly before exp+leeway"},
		{name: "Exp/LeewayPlus1s", token: tok(map[string]any{"exp": at(-lw - time.Second)}), want: jwtx.ErrExpired,
			reason: "boundary: expired 31 s ago"},
		{name: "Exp/LongAgo", token: tok(map[string]any{"exp": at(-24 * time.Hour), "iat": at(-25 * time.Hour), "nbf": nil}), want: jwtx.ErrExpired,
			reason: "a stolen token replayed a day later"},
		{name: "Exp/Zero", token: tok(map[string]any{"exp": 0}), want: jwtx.ErrExpired,
			reason: "exp 0 (1970): a parser treating 0 as unset would accept"},
		{name: "Nbf/LeewayMinus1s", token: tok(map[string]any{"nbf": at(lw - time.Second)}), want: nil,
			reason: "boundary: valid from 29 s in the future, inside the leeway: accepted"},
		{name: "Nbf/AtLeeway", token: tok(map[string]any{"nbf": at(lw)}), want: nil,
			reason: "boundary: valid from exactly 30 s in the future: now+leeway is at nbf, accepted"},
		{name: "Nbf/LeewayPlus1s", token: tok(map[string]any{"nbf": at(lw + time.Second)}), want: jwtx.ErrNotYetValid,
			reason: "boundary: valid from 31 s in the future"},
		{name: "Iat/LeewayMinus1s", token: tok(map[string]any{"iat": at(lw - time.Second), "nbf": nil}), want: nil,
			reason: "boundary: issued 29 s in the future (clock skew): accepted"},
		{name: "Iat/AtLeeway", token: tok(map[string]any{"iat": at(lw), "nbf": nil}), want: nil,
			reason: "boundary: issued exactly 30 s in the future: accepted"},
		{name: "Iat/LeewayPlus1s", token: tok(map[string]any{"iat": at(lw + time.Second), "nbf": nil}), want: jwtx.ErrNotYetValid,
			reason: "boundary: issued 31 s in the future"},
		{name: "Iat/FarFuture", token: tok(map[string]any{"iat": at(time.Hour), "nbf": nil}), want: jwtx.ErrNotYetValid,
			reason: "a token minted with a future iat to outlive a revocation cut-off"},
		{name: "Exp/Missing", token: tok(map[string]any{"exp": nil}), want: jwtx.ErrMalformedToken,
			reason: "no exp: a token that never expires; exp is required"},
		{name: "Exp/Null", token: raw(`"exp":null`), want: jwtx.ErrMalformedToken, reason: "exp null"},
		{name: "Exp/String", token: tok(map[string]any{"exp": "1700000900"}), want: jwtx.ErrMalformedToken,
			reason: "exp as a string: NumericDate is a JSON number; coercion differs between parsers"},
		{name: "Exp/Negative", token: tok(map[string]any{"exp": -1}), want: jwtx.ErrMalformedToken,
			reason: "negative exp"},
		{name: "Exp/1e300", token: raw(`"exp":1e300`), want: jwtx.ErrMalformedToken,
			reason: "exp 1e300: a float that overflows int64 and time arithmetic; never expires if saturated"},
		{name: "Exp/1e400", token: raw(`"exp":1e400`), want: jwtx.ErrMalformedToken,
			reason: "exp beyond float64: +Inf in lenient parsers"},
		{name: "Exp/Year10000", token: tok(map[string]any{"exp": 253402300800}), want: jwtx.ErrMalformedToken,
			reason: "exp after 9999-12-31: out of range for RFC 3339 and Redis PXAT"},
		{name: "Exp/Bool", token: tok(map[string]any{"exp": true}), want: jwtx.ErrMalformedToken, reason: "exp true"},
		{name: "Exp/Array", token: tok(map[string]any{"exp": []int64{at(time.Hour)}}), want: jwtx.ErrMalformedToken, reason: "exp as an array"},
		{name: "Nbf/String", token: tok(map[string]any{"nbf": "0"}), want: jwtx.ErrMalformedToken, reason: "nbf as a string"},
		{name: "Iat/Bool", token: tok(map[string]any{"iat": true}), want: jwtx.ErrMalformedToken, reason: "iat true"},
	}
}

// issuerAudienceCases: RFC 8725 3.8 and 3.9 (tokens of another issuer, or
// meant for another service: substitution, RFC 8725 2.7).
func (f *hostileFixture) issuerAudienceCases() []hostileCase {
	tok := func(cl map[string]any) string { return f.token(nil, cl) }
	iss, aud := f.k.Issuer, f.k.Audience
	return []hostileCase{
		{name: "Iss/Wrong", token: tok(map[string]any{"iss": "https://evil.test"}), want: jwtx.ErrWrongIssuer, reason: "another issuer"},
		{name: "Iss/TrailingSlash", token: tok(map[string]any{"iss": iss + "/"}), want: jwtx.ErrWrongIssuer, reason: "exact comparison, no URL normalisation"},
		{name: "Iss/UpperCase", token: tok(map[string]any{"iss": strings.ToUpper(iss)}), want: jwtx.ErrWrongIssuer, reason: "case variant of the issuer"},
		{name: "Iss/Prefix", token: tok(map[string]any{"iss": iss + ".evil.test"}), want: jwtx.ErrWrongIssuer, reason: "our issuer as a prefix: no prefix match"},
		{name: "Iss/Empty", token: tok(map[string]any{"iss": ""}), want: jwtx.ErrWrongIssuer, reason: "empty issuer"},
		{name: "Iss/Missing", token: tok(map[string]any{"iss": nil}), want: jwtx.ErrWrongIssuer, reason: "no issuer: iss is required"},
		{name: "Iss/Array", token: tok(map[string]any{"iss": []string{iss}}), want: jwtx.ErrMalformedToken, reason: "iss as an array holding ours"},
		{name: "Aud/WrongString", token: tok(map[string]any{"aud": "billing"}), want: jwtx.ErrWrongAudience,
			reason: "a token for another service of the same issuer, replayed here"},
		{name: "Aud/WrongArray", token: tok(map[string]any{"aud": []string{"billing", "chat"}}), want: jwtx.ErrWrongAudience,
			reason: "array form without our audience"},
		{name: "Aud/EmptyArray", token: tok(map[string]any{"aud": []string{}}), want: jwtx.ErrWrongAudience, reason: "empty audience array"},
		{name: "Aud/EmptyString", token: tok(map[string]any{"aud": ""}), want: jwtx.ErrWrongAudience, reason: "empty audience string"},
		{name: "Aud/ArrayOfEmpty", token: tok(map[string]any{"aud": []string{""}}), want: jwtx.ErrWrongAudience, reason: "array holding the empty string"},
		{name: "Aud/Missing", token: tok(map[string]any{"aud": nil}), want: jwtx.ErrWrongAudience, reason: "no audience: aud is required"},
		{name: "Aud/UpperCase", token: tok(map[string]any{"aud": strings.ToUpper(aud)}), want: jwtx.ErrWrongAudience, reason: "case variant of our audience"},
		{name: "Aud/Superstring", token: tok(map[string]any{"aud": []string{aud + "-admin"}}), want: jwtx.ErrWrongAudience, reason: "our audience as a prefix"},
		{name: "Aud/CommaJoined", token: tok(map[string]any{"aud": "billing," + aud}), want: jwtx.ErrWrongAudience, reason: "a comma list in a string is one audience"},
		{name: "Aud/Number", token: tok(map[string]any{"aud": 1}), want: jwtx.ErrMalformedToken, reason: "aud a number"},
		{name: "Aud/ArrayWithNumber", token: tok(map[string]any{"aud": []any{aud, 1}}), want: jwtx.ErrMalformedToken, reason: "array with a non-string"},
		{name: "Aud/NestedArray", token: tok(map[string]any{"aud": [][]string{{aud}}}), want: jwtx.ErrMalformedToken, reason: "array of arrays holding ours"},
		{name: "Aud/Object", token: tok(map[string]any{"aud": map[string]string{"aud": aud}}), want: jwtx.ErrMalformedToken, reason: "aud an object"},
	}
}

// identifierCases: jti and sub become Redis keys, ver an integer compared
// with the user's version; and claim smuggling (RFC 8725 2.6).
func (f *hostileFixture) identifierCases() []hostileCase {
	tok := func(cl map[string]any) string { return f.token(nil, cl) }
	pl := f.claims(nil)
	add := func(member string) string { return f.k.SignRaw(f.header(nil), pl[:len(pl)-1]+","+member+"}") }
	repl := func(old, new string) string { return f.k.SignRaw(f.header(nil), strings.Replace(pl, old, new, 1)) }
	long := strings.Repeat("j", 10<<10)
	return []hostileCase{
		{name: "Jti/Missing", token: tok(map[string]any{"jti": nil, "ver": nil}), want: jwtx.ErrLegacyToken,
			reason: "no jti: cannot be revoked by itself; legacy tokens are off by default"},
		{name: "Jti/MissingLegacyExpired", token: tok(map[string]any{"jti": nil, "ver": nil, "exp": now.Add(-time.Hour).Unix()}), legacy: true, want: jwtx.ErrExpired,
			reason: "legacy mode still checks everything else"},
		{name: "Jti/Empty", token: tok(map[string]any{"jti": ""}), legacy: true, want: jwtx.ErrMalformedToken,
			reason: "empty jti is not 'no jti', even in legacy mode: it would pass as unrevocable"},
		{name: "Jti/NotUUID", token: tok(map[string]any{"jti": "abc"}), want: jwtx.ErrMalformedToken, reason: "jti not a UUID"},
		{name: "Jti/UpperCase", token: tok(map[string]any{"jti": strings.ToUpper(testJTI)}), want: jwtx.ErrMalformedToken,
			reason: "upper-case UUID: another Redis key than the one the revocation service writes, so a revoked token would pass"},
		{name: "Jti/Braced", token: tok(map[string]any{"jti": "{" + testJTI + "}"}), want: jwtx.ErrMalformedToken, reason: "braced UUID form"},
		{name: "Jti/URN", token: tok(map[string]any{"jti": "urn:uuid:" + testJTI}), want: jwtx.ErrMalformedToken, reason: "URN UUID form"},
		{name: "Jti/RedisGlob", token: tok(map[string]any{"jti": "*"}), want: jwtx.ErrMalformedToken, reason: "a Redis glob as the key suffix"},
		{name: "Jti/RedisCRLF", token: tok(map[string]any{"jti": testJTI + "\r\nFLUSHALL"}), want: jwtx.ErrMalformedToken,
			reason: "CR/LF: inline-protocol injection into the Redis key"},
		{name: "Jti/Long10KB", token: tok(map[string]any{"jti": long}), maxSize: 64 << 10, want: jwtx.ErrMalformedToken,
			reason: "a 10 KiB jti (with MaxTokenSize raised): a 10 KiB Redis key per request"},
		{name: "Jti/Long10KBDefaultLimit", token: tok(map[string]any{"jti": long}), want: jwtx.ErrTokenTooLarge,
			reason: "the same under the default 8 KiB limit"},
		{name: "Jti/NotUTF8", token: repl(testJTI, testJTI[:35]+"\xff"), want: jwtx.ErrMalformedToken,
			reason: "invalid UTF-8 in jti (RFC 8725 3.7): encoding/json would turn it into U+FFFD, another parser would keep the byte"},
		{name: "Jti/Number", token: tok(map[string]any{"jti": 5}), want: jwtx.ErrMalformedToken, reason: "jti a number"},
		{name: "Sub/NotUUID", token: tok(map[string]any{"sub": "alice"}), want: jwtx.ErrMalformedToken, reason: "sub not a UUID: the user version key would be user_token_version:alice"},
		{name: "Sub/UpperCase", token: tok(map[string]any{"sub": strings.ToUpper(testSub)}), want: jwtx.ErrMalformedToken,
			reason: "upper-case sub escapes the user's logout-all-devices version key"},
		{name: "Sub/NoHyphens", token: tok(map[string]any{"sub": strings.ReplaceAll(testSub, "-", "")}), want: jwtx.ErrMalformedToken, reason: "non-canonical UUID"},
		{name: "Sub/Missing", token: tok(map[string]any{"sub": nil}), want: jwtx.ErrMalformedToken, reason: "no subject"},
		{name: "Ver/Missing", token: tok(map[string]any{"ver": nil}), want: jwtx.ErrMalformedToken,
			reason: "no ver on a token with jti: treating it as 0 would be a silent default"},
		{name: "Ver/Negative", token: tok(map[string]any{"ver": -1}), want: jwtx.ErrMalformedToken, reason: "negative version"},
		{name: "Ver/Fraction", token: tok(map[string]any{"ver": 1.5}), want: jwtx.ErrMalformedToken, reason: "non-integer version"},
		{name: "Ver/Exponent", token: repl(`"ver":0`, `"ver":1e3`), want: jwtx.ErrMalformedToken, reason: "1e3: an integral value in float syntax"},
		{name: "Ver/String", token: tok(map[string]any{"ver": "9"}), want: jwtx.ErrMalformedToken, reason: "version as a string"},
		{name: "Ver/Overflow", token: repl(`"ver":0`, `"ver":9223372036854775808`), want: jwtx.ErrMalformedToken,
			reason: "2^63: wraps to a negative int64 in a careless parser"},
		{name: "Ver/Null", token: repl(`"ver":0`, `"ver":null`), want: jwtx.ErrMalformedToken, reason: "ver null"},

		{name: "Dup/Exp", token: add(`"exp":4102444800`), want: jwtx.ErrMalformedToken,
			reason: "exp twice: the checker reads one, the application another (RFC 8725 2.6)"},
		{name: "Dup/Sub", token: add(`"sub":"` + testJTI + `"`), want: jwtx.ErrMalformedToken, reason: "sub twice: whose token is it?"},
		{name: "Dup/JTIBesideJti", token: add(`"JTI":"` + testSub + `"`), want: jwtx.ErrMalformedToken,
			reason: "JTI beside jti: encoding/json binds either case to the jti field"},
		{name: "Dup/JTIAloneLegacy", token: tok(map[string]any{"jti": nil, "JTI": testJTI}), legacy: true, want: jwtx.ErrMalformedToken,
			reason: "JTI without jti: one parser sees a legacy token, another a revocable one"},
		{name: "Dup/LongSSub", token: add(`"ſub":"` + testJTI + `"`), want: jwtx.ErrMalformedToken,
			reason: "U+017F LONG S folds to S: encoding/json matches ſub to sub"},
		{name: "Dup/EscapedExp", token: add(`"\u0065xp":4102444800`), want: jwtx.ErrMalformedToken, reason: `"\u0065xp" is exp once unescaped`},
		{name: "Dup/VERUpper", token: add(`"VER":99`), want: jwtx.ErrMalformedToken, reason: "VER beside ver"},
		{name: "Dup/Nested", token: add(`"x":{"a":1,"A":2}`), want: jwtx.ErrMalformedToken, reason: "duplicates inside a custom claim too"},
	}
}
