package jwtx_test

import (
	"crypto/sha256"
	"strings"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// keyCases: the kid is a lookup key and nothing else (RFC 8725 3.10), and
// keys never come from the token (jku, x5u, jwk, x5c: RFC 8725 2.9, 3.10).
func (f *hostileFixture) keyCases() []hostileCase {
	pl := f.claims(nil)
	long := strings.Repeat("k", 10<<10)
	var cases []hostileCase
	for _, k := range []struct {
		name, kid, why string
	}{
		{"Unknown", f.attacker.Signer.KeyID(), "the thumbprint of a key we never published"},
		{"Empty", "", "empty kid"},
		{"PathTraversal", "../../etc/passwd", "path traversal: a validator reading key files by kid would read /etc/passwd"},
		{"PathTraversalDevNull", "../../../../../../dev/null", "kid naming /dev/null, whose empty contents become the key of a file-based lookup"},
		{"FileURL", "file:///etc/passwd", "a URL scheme in the kid"},
		{"KeyServerURL", f.keyURL, "the attacker's JWKS URL as the kid: a kid is never dereferenced"},
		{"SQLInjection", "' OR 1=1 --", "SQL injection: a validator querying a key table by kid would return any key"},
		{"SQLUnion", "x' UNION SELECT 'secret' AS key --", "SQL UNION choosing the key material"},
		{"CommandSubstitution", "$(reboot)", "shell command substitution"},
		{"CommandChain", "; rm -rf /", "shell command chaining"},
		{"Backticks", "`id`", "shell backticks"},
		{"LDAPWildcard", "*)(uid=*", "LDAP filter injection"},
		{"RedisGlob", "*", "a glob: a key store scanned with KEYS/SCAN would match every key"},
		{"OurKidNUL", f.kid + "\x00", "our kid plus NUL: a C-string lookup would truncate it to our kid"},
		{"OurKidSpace", f.kid + " ", "our kid plus a space: a trimming lookup would find our key"},
		{"OurKidUpper", strings.ToUpper(f.kid), "our kid upper-cased: base64url thumbprints are case-sensitive"},
		{"OurKidPadded", f.kid + "=", "our kid with base64 padding"},
		{"CRLFLogInjection", "x\r\nlevel=ERROR msg=\"admin login\"", "CR/LF forging a log line when the kid is logged"},
		{"Proto", "__proto__", "prototype key of a JavaScript object used as a map"},
		{"Long10KB", long, "a 10 KiB kid (with MaxTokenSize raised): a map miss, and the error does not echo it"},
	} {
		hdr := f.header(map[string]any{"kid": k.kid})
		tc := hostileCase{name: "Kid/" + k.name, token: f.attacker.SignRaw(hdr, pl), want: jwtx.ErrUnknownKey, reason: k.why}
		if k.name == "Long10KB" {
			tc.maxSize = 64 << 10
		}
		cases = append(cases, tc)
	}
	sum := sha256.Sum256(nil)
	cases = append(cases,
		hostileCase{name: "Kid/Long10KBDefaultLimit", token: f.attacker.SignRaw(f.header(map[string]any{"kid": long}), pl), want: jwtx.ErrTokenTooLarge,
			reason: "a 10 KiB kid under the default 8 KiB limit: refused before the header is even decoded"},
		hostileCase{name: "Kid/Missing", token: f.k.SignRaw(f.header(map[string]any{"kid": nil}), pl), want: jwtx.ErrUnknownKey,
			reason: "no kid, genuinely signed: we never try every key (that would also let a key be chosen by trial)"},
		hostileCase{name: "Kid/Number", token: f.k.SignRaw(f.header(map[string]any{"kid": 7}), pl), want: jwtx.ErrUnknownKey,
			reason: "kid not a string: no coercion"},
		hostileCase{name: "Kid/Array", token: f.k.SignRaw(f.header(map[string]any{"kid": []string{f.kid}}), pl), want: jwtx.ErrUnknownKey,
			reason: "kid an array holding our kid: no unwrapping"},
		hostileCase{name: "Kid/DevNullWithHS256EmptyKey", token: macToken(sha256.New, f.header(map[string]any{"kid": "/dev/null", "alg": "HS256"}), pl, nil), want: jwtx.ErrAlgorithmNotAllowed,
			reason: "the classic pair: kid /dev/null and an HMAC with the empty key; the alg is refused first"},
		hostileCase{name: "Kid/EmptyKeyHash", token: f.attacker.SignRaw(f.header(map[string]any{"kid": enc.EncodeToString(sum[:])}), pl), want: jwtx.ErrUnknownKey,
			reason: "a well-formed thumbprint-shaped kid of nothing"},

		hostileCase{name: "Jku/UnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID(), "jku": f.keyURL + "?via=jku"}), pl), want: jwtx.ErrUnknownKey,
			reason: "jku points at the attacker's JWKS holding the signing key: never fetched (SSRF and key injection)"},
		hostileCase{name: "X5u/UnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID(), "x5u": f.keyURL + "/chain.pem"}), pl), want: jwtx.ErrUnknownKey,
			reason: "x5u points at the attacker's server: never fetched"},
		hostileCase{name: "Jwk/UnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID(), "jwk": f.attJWK}), pl), want: jwtx.ErrUnknownKey,
			reason: "the signing key embedded in the header (jwk): a token never brings its own key"},
		hostileCase{name: "Jwk/NoKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": nil, "jwk": f.attJWK}), pl), want: jwtx.ErrUnknownKey,
			reason: "jwk and no kid: no fallback to the embedded key"},
		hostileCase{name: "Jwk/OurKid", token: f.attacker.SignRaw(f.header(map[string]any{"jwk": f.attJWK}), pl), want: jwtx.ErrBadSignature,
			reason: "our kid with the attacker's jwk embedded: our key is used, and it does not verify"},
		hostileCase{name: "X5c/UnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID(), "x5c": []string{"MIIBIjAN"}}), pl), want: jwtx.ErrUnknownKey,
			reason: "a certificate chain in the header (x5c): ignored, no chain building"},
	)
	return cases
}

// headerCases: crit (RFC 7515 4.1.11), explicit typing (RFC 8725 2.8,
// 3.11, 3.12) and smuggling in the header (RFC 8725 2.6).
func (f *hostileFixture) headerCases() []hostileCase {
	pl := f.claims(nil)
	signed := func(hdr string) string { return f.k.SignRaw(hdr, pl) }
	h := func(changes map[string]any) string { return signed(f.header(changes)) }
	base := f.header(nil)
	inject := func(member string) string { return signed(base[:len(base)-1] + "," + member + "}") }
	urls := `","jku":"` + f.keyURL + `","x5u":"` + f.keyURL + `"`
	cases := []hostileCase{
		{name: "Crit/Unknown", token: h(map[string]any{"crit": []string{"x-ext"}, "x-ext": true}), want: jwtx.ErrCriticalHeader,
			reason: "an extension we must understand and do not: RFC 7515 4.1.11 says reject"},
		{name: "Crit/Empty", token: h(map[string]any{"crit": []string{}}), want: jwtx.ErrCriticalHeader,
			reason: "crit present but empty is invalid (RFC 7515 4.1.11)"},
		{name: "Crit/B64", token: h(map[string]any{"crit": []string{"b64"}, "b64": false}), want: jwtx.ErrCriticalHeader,
			reason: "RFC 7797 unencoded payload: changes what is signed"},
		{name: "Crit/RegisteredName", token: h(map[string]any{"crit": []string{"exp"}}), want: jwtx.ErrCriticalHeader,
			reason: "crit naming a claim"},
		{name: "Crit/NotArray", token: h(map[string]any{"crit": "x-ext"}), want: jwtx.ErrCriticalHeader,
			reason: "crit as a string"},
		{name: "Crit/Null", token: inject(`"crit":null`), want: jwtx.ErrCriticalHeader,
			reason: "crit null: present is present"},
		{name: "Crit/CaseVariant", token: h(map[string]any{"CRIT": []string{"x-ext"}}), want: jwtx.ErrMalformedToken,
			reason: "CRIT: a case-insensitive parser would see crit, a strict one would not"},

		{name: "Typ/JWT", token: h(map[string]any{"typ": "JWT"}), want: jwtx.ErrWrongType,
			reason: "an ID token or any generic JWT of the same issuer: cross-JWT confusion"},
		{name: "Typ/jwt", token: h(map[string]any{"typ": "jwt"}), want: jwtx.ErrWrongType, reason: "generic JWT, lower case"},
		{name: "Typ/RefreshToken", token: h(map[string]any{"typ": "rt+jwt"}), want: jwtx.ErrWrongType,
			reason: "a refresh token presented as an access token"},
		{name: "Typ/DPoPProof", token: h(map[string]any{"typ": "dpop+jwt"}), want: jwtx.ErrWrongType, reason: "a DPoP proof (RFC 9449)"},
		{name: "Typ/LogoutToken", token: h(map[string]any{"typ": "logout+jwt"}), want: jwtx.ErrWrongType, reason: "an OpenID back-channel logout token"},
		{name: "Typ/SecEvent", token: h(map[string]any{"typ": "secevent+jwt"}), want: jwtx.ErrWrongType, reason: "a security event token (RFC 8417)"},
		{name: "Typ/ApplicationJWT", token: h(map[string]any{"typ": "application/jwt"}), want: jwtx.ErrWrongType, reason: "the generic media type"},
		{name: "Typ/TrailingSpace", token: h(map[string]any{"typ": "at+jwt "}), want: jwtx.ErrWrongType, reason: "exact match, no trimming"},
		{name: "Typ/WithParameter", token: h(map[string]any{"typ": "at+jwt; charset=utf-8"}), want: jwtx.ErrWrongType, reason: "media type parameters are not accepted"},
		{name: "Typ/Missing", token: h(map[string]any{"typ": nil}), want: jwtx.ErrWrongType,
			reason: "no typ: RFC 9068 requires at+jwt, so an untyped JWT of another kind cannot pass"},
		{name: "Typ/Empty", token: h(map[string]any{"typ": ""}), want: jwtx.ErrWrongType, reason: "empty typ"},
		{name: "Typ/Number", token: h(map[string]any{"typ": 1}), want: jwtx.ErrWrongType, reason: "typ not a string"},
		{name: "Typ/CaseVariantMember", token: h(map[string]any{"typ": nil, "TYP": "at+jwt"}), want: jwtx.ErrMalformedToken,
			reason: "TYP instead of typ: accepted only by a case-insensitive parser"},

		{name: "Header/DuplicateAlg", token: signed(`{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"` + f.kid + urls + `}`), want: jwtx.ErrMalformedToken,
			reason: "alg twice: first-wins and last-wins parsers disagree (RFC 8725 2.6)"},
		{name: "Header/DuplicateKid", token: signed(`{"alg":"EdDSA","typ":"at+jwt","kid":"` + f.attacker.Signer.KeyID() + `","kid":"` + f.kid + urls + `}`), want: jwtx.ErrMalformedToken,
			reason: "kid twice"},
		{name: "Header/EscapedDuplicate", token: inject(`"\u0061lg":"none"`), want: jwtx.ErrMalformedToken,
			reason: `"\u0061lg" is alg once unescaped: a duplicate only a byte-level check misses`},
		{name: "Header/KelvinKid", token: inject(`"\u212aid":"x"`), want: jwtx.ErrMalformedToken,
			reason: "KELVIN SIGN + id folds to kid in encoding/json's case-insensitive matching"},
		{name: "Header/Array", token: signed(`["EdDSA"]`), want: jwtx.ErrMalformedToken, reason: "header not an object"},
		{name: "Header/Null", token: signed(`null`), want: jwtx.ErrMalformedToken, reason: "header null"},
		{name: "Header/Empty", token: signed(``), want: jwtx.ErrMalformedToken, reason: "empty header segment"},
		{name: "Header/Deep", token: inject(`"x":` + strings.Repeat(`[`, 64) + strings.Repeat(`]`, 64)), want: jwtx.ErrMalformedToken,
			reason: "nesting beyond 32 levels: bounded parser work"},
		{name: "Header/NotUTF8", token: inject("\"x-note\":\"\xff\xfe\""), want: jwtx.ErrMalformedToken,
			reason: "invalid UTF-8 (RFC 8725 3.7): parsers replace or reject it differently"},
	}
	return cases
}
