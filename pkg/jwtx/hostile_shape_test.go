package jwtx_test

import (
	"crypto/ed25519"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// signText signs the given segment texts as they are (encoded or not) with
// our key: only the encoding can then be wrong.
func (f *hostileFixture) signText(hdr, payload string) string {
	input := hdr + "." + payload
	return input + "." + enc.EncodeToString(ed25519.Sign(f.k.Key, []byte(input)))
}

// spareBits pads JSON with trailing spaces until its base64url encoding
// ends in a character with unused bits.
func spareBits(json string) string {
	for len(json)%3 == 0 {
		json += " "
	}
	return json
}

// nonCanonical sets an unused low bit of the last character of seg: the
// same bytes under a lax decoder, a second spelling of the same token.
func nonCanonical(seg string) string {
	i := strings.IndexByte(b64url, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64url[i|1])
}

// stdAlphabet returns a claim set whose base64url encoding contains - or _,
// and that encoding rewritten with the standard alphabet's + and /.
func (f *hostileFixture) stdAlphabet() string {
	for n := 3; ; n++ {
		seg := enc.EncodeToString([]byte(f.claims(map[string]any{"x": strings.Repeat("~", n)})))
		if strings.ContainsAny(seg, "-_") {
			return strings.NewReplacer("-", "+", "_", "/").Replace(seg)
		}
	}
}

// shapeCases: segments, base64url, JSON shape and size (RFC 7515 3.1, 7.1;
// RFC 8725 2.6 and 3.7), all genuinely signed where a signature applies.
func (f *hostileFixture) shapeCases() []hostileCase {
	good := f.token(nil, nil)
	parts := strings.Split(good, ".")
	h, p := parts[0], parts[1]
	hdr := enc.EncodeToString([]byte(f.header(nil)))
	hdrSpare := enc.EncodeToString([]byte(spareBits(f.header(nil))))
	plSpare := enc.EncodeToString([]byte(spareBits(f.claims(nil))))
	payload := func(json string) string { return f.k.SignRaw(f.header(nil), json) }
	pl := f.claims(nil)
	withClaim := func(member string) string { return payload(pl[:len(pl)-1] + "," + member + "}") }
	return []hostileCase{
		{name: "Shape/Empty", token: "", want: jwtx.ErrMalformedToken, reason: "empty string"},
		{name: "Shape/OneSegment", token: h, want: jwtx.ErrMalformedToken, reason: "one segment"},
		{name: "Shape/TwoSegments", token: h + "." + p, want: jwtx.ErrMalformedToken, reason: "no signature segment at all: not even alg none's empty one"},
		{name: "Shape/FourSegments", token: good + "." + parts[2], want: jwtx.ErrMalformedToken, reason: "a valid token plus a fourth segment"},
		{name: "Shape/FiveSegmentsJWE", token: enc.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"`+f.kid+`"}`)) + "..AAAA.AAAA.AAAA", want: jwtx.ErrMalformedToken,
			reason: "a JWE (5 segments): we never decrypt, so never confuse encryption with signature (RFC 8725 2.3)"},
		{name: "Shape/DotsOnly", token: "..", want: jwtx.ErrMalformedToken, reason: "three empty segments"},
		{name: "Shape/BearerPrefix", token: "Bearer " + good, want: jwtx.ErrMalformedToken, reason: "the scheme left in front of the token"},
		{name: "Shape/SpaceInside", token: f.signText(h, p[:10]+" "+p[10:]), want: jwtx.ErrMalformedToken, reason: "a space inside a segment"},
		{name: "Shape/NewlineInside", token: f.signText(h, p[:10]+"\n"+p[10:]), want: jwtx.ErrMalformedToken,
			reason: "a line break inside a segment, genuinely signed: encoding/base64 skips CR/LF even in strict mode, so the bytes are checked first"},
		{name: "Shape/CRLFInside", token: f.signText(h[:8]+"\r\n"+h[8:], p), want: jwtx.ErrMalformedToken,
			reason: "CR LF inside the header, genuinely signed"},

		{name: "Base64/HeaderPadded", token: f.signText(hdrSpare+"=", p), want: jwtx.ErrMalformedToken, reason: "padding is not part of base64url in JOSE"},
		{name: "Base64/PayloadPadded", token: f.signText(h, plSpare+"="), want: jwtx.ErrMalformedToken, reason: "padded payload"},
		{name: "Base64/SignaturePadded", token: good + "==", want: jwtx.ErrMalformedToken, reason: "padded signature"},
		{name: "Base64/HeaderNonCanonical", token: f.signText(nonCanonical(hdrSpare), p), want: jwtx.ErrMalformedToken,
			reason: "header with trailing bits set: a second spelling of the same header"},
		{name: "Base64/PayloadNonCanonical", token: f.signText(hdr, nonCanonical(plSpare)), want: jwtx.ErrMalformedToken,
			reason: "payload with trailing bits set: same claims, another token string (breaks token-keyed caches and blocklists)"},
		{name: "Base64/SignatureNonCanonical", token: h + "." + p + "." + nonCanonical(parts[2]), want: jwtx.ErrMalformedToken,
			reason: "signature with trailing bits set: the same 64 bytes under a lax decoder"},
		{name: "Base64/PayloadStdAlphabet", token: f.signText(hdr, f.stdAlphabet()), want: jwtx.ErrMalformedToken,
			reason: "standard base64 (+ and /) instead of base64url"},
		{name: "Base64/HeaderGarbage", token: "!!!." + p + "." + parts[2], want: jwtx.ErrMalformedToken, reason: "header not base64"},

		{name: "JSON/PayloadNull", token: payload(`null`), want: jwtx.ErrMalformedToken, reason: "payload null: a nil claims map in some libraries"},
		{name: "JSON/PayloadArray", token: payload(`[` + pl + `]`), want: jwtx.ErrMalformedToken, reason: "payload an array holding valid claims"},
		{name: "JSON/PayloadString", token: payload(`"` + p + `"`), want: jwtx.ErrMalformedToken, reason: "payload a JSON string (double encoding)"},
		{name: "JSON/PayloadNumber", token: payload(`1`), want: jwtx.ErrMalformedToken, reason: "payload a number"},
		{name: "JSON/PayloadEmpty", token: payload(``), want: jwtx.ErrMalformedToken, reason: "empty payload"},
		{name: "JSON/PayloadEmptyObject", token: payload(`{}`), want: jwtx.ErrMalformedToken, reason: "no claims at all"},
		{name: "JSON/PayloadTrailingData", token: payload(pl + `{"sub":"x"}`), want: jwtx.ErrMalformedToken, reason: "a second object after the first: streaming parsers read one or the other"},
		{name: "JSON/PayloadTrailingNUL", token: payload(pl + "\x00"), want: jwtx.ErrMalformedToken, reason: "a NUL byte after the object is data, not the end (C-string parsers stop there)"},
		{name: "JSON/PayloadTrailingSpaceNUL", token: payload(pl + " \x00"), want: jwtx.ErrMalformedToken, reason: "a NUL byte after whitespace"},
		{name: "JSON/PayloadTruncated", token: payload(pl[:len(pl)-1]), want: jwtx.ErrMalformedToken, reason: "unterminated object"},
		{name: "JSON/PayloadBOM", token: payload("\ufeff" + pl), want: jwtx.ErrMalformedToken, reason: "a byte-order mark before the object"},
		{name: "JSON/PayloadUTF16", token: payload(utf16le(pl)), want: jwtx.ErrMalformedToken, reason: "UTF-16 instead of UTF-8 (RFC 8725 3.7)"},
		{name: "JSON/PayloadNotUTF8", token: withClaim("\"x\":\"\xc0\xaf\""), want: jwtx.ErrMalformedToken,
			reason: "overlong UTF-8 encoding of /: classic filter bypass"},
		{name: "JSON/DeepObjects", token: withClaim(`"x":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)), want: jwtx.ErrMalformedToken,
			reason: "40 nested objects: parser stack and time bounded at 32 levels"},
		{name: "JSON/DeepArrays", token: withClaim(`"x":` + strings.Repeat(`[`, 2000) + strings.Repeat(`]`, 2000)), want: jwtx.ErrMalformedToken,
			reason: "2000 nested arrays within the size limit"},
		{name: "JSON/Comment", token: payload(`/*x*/` + pl), want: jwtx.ErrMalformedToken, reason: "comments are not JSON"},
		{name: "JSON/SingleQuotes", token: payload(strings.ReplaceAll(pl, `"`, `'`)), want: jwtx.ErrMalformedToken, reason: "JavaScript-style quotes"},

		{name: "Size/OverMaxByOne", token: oversize(f, jwtx.DefaultMaxTokenSize+1), want: jwtx.ErrTokenTooLarge,
			reason: "8 KiB + 1 byte, genuinely signed: refused before any decoding"},
		{name: "Size/OneMiB", token: strings.Repeat("a", 1<<20) + ".b.c", want: jwtx.ErrTokenTooLarge, reason: "1 MiB: refused in constant time and allocations"},
		{name: "Size/ManyDots", token: strings.Repeat(".", 1<<16), want: jwtx.ErrTokenTooLarge, reason: "64 Ki dots: no split into 64 Ki segments"},
	}
}

// oversize returns a genuinely signed token of exactly n bytes.
func oversize(f *hostileFixture, n int) string {
	tok := f.token(nil, map[string]any{"pad": ""})
	// Each 4 base64 characters of padding carry 3 bytes of claim text.
	pad := strings.Repeat("a", (n-len(tok))*3/4)
	for {
		tok = f.token(nil, map[string]any{"pad": pad})
		if len(tok) >= n {
			return tok
		}
		pad += "a"
	}
}

// utf16le encodes an ASCII string as UTF-16LE.
func utf16le(s string) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}

// precedenceCases: a token wrong in several ways reports the first check
// it fails. Order: size, segments, header (crit, alg, typ, kid present),
// signature encoding, claim types, legacy, key lookup, signature, iss,
// aud, exp, nbf/iat. So expired-and-badly-signed reports the signature:
// time is only read from claims whose signature verified.
func (f *hostileFixture) precedenceCases() []hostileCase {
	expired := map[string]any{"exp": now.Add(-time.Hour).Unix()}
	exp := f.token(nil, expired)
	flip := func(tok string) string {
		b := []byte(tok)
		i := strings.LastIndexByte(tok, '.') + 5
		b[i] = b64url[strings.IndexByte(b64url, b[i])^4]
		return string(b)
	}
	expPl := f.claims(expired)
	return []hostileCase{
		{name: "Prec/ExpiredBadSignature", token: flip(exp), want: jwtx.ErrBadSignature,
			reason: "expired and badly signed: the signature is checked before any claim value, so the forgery is what is reported"},
		{name: "Prec/ExpiredForeignKey", token: f.attacker.SignRaw(f.header(nil), expPl), want: jwtx.ErrBadSignature,
			reason: "expired and signed by the attacker under our kid"},
		{name: "Prec/ExpiredEmptySignature", token: exp[:strings.LastIndexByte(exp, '.')+1], want: jwtx.ErrBadSignature,
			reason: "expired with a null signature"},
		{name: "Prec/ExpiredUnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID()}), expPl), want: jwtx.ErrUnknownKey,
			reason: "expired under an unknown kid: no key, so nothing after the lookup runs"},
		{name: "Prec/ExpiredAlgNone", token: unsigned(f.header(map[string]any{"alg": "none"}), expPl, nil), want: jwtx.ErrAlgorithmNotAllowed,
			reason: "expired and unsigned: the header is refused first"},
		{name: "Prec/MalformedClaimBadSignature", token: flip(f.token(nil, map[string]any{"exp": "soon"})), want: jwtx.ErrMalformedToken,
			reason: "claim of the wrong type and a bad signature: the shape is checked before the key lookup (no JWKS refresh for garbage)"},
		{name: "Prec/LegacyUnknownKid", token: f.attacker.SignRaw(f.header(map[string]any{"kid": f.attacker.Signer.KeyID()}), f.claims(map[string]any{"jti": nil, "ver": nil})), want: jwtx.ErrLegacyToken,
			reason: "no jti under an unknown kid: refused before the lookup"},
		{name: "Prec/AlgNoneUnknownKid", token: unsigned(f.header(map[string]any{"alg": "none", "kid": "x"}), f.claims(nil), nil), want: jwtx.ErrAlgorithmNotAllowed,
			reason: "alg none and an unknown kid"},
		{name: "Prec/UnknownKidBadSignature", token: flip(f.attacker.SignRaw(f.header(map[string]any{"kid": "x"}), f.claims(nil))), want: jwtx.ErrUnknownKey,
			reason: "unknown kid and a bad signature: no key to check it with"},
		{name: "Prec/WrongIssuerExpired", token: f.token(nil, map[string]any{"iss": "https://evil.test", "exp": now.Add(-time.Hour).Unix()}), want: jwtx.ErrWrongIssuer,
			reason: "another issuer's expired token: 'not ours' wins over 'expired', so the client is not told to refresh"},
		{name: "Prec/WrongAudienceNotYetValid", token: f.token(nil, map[string]any{"aud": "billing", "nbf": now.Add(time.Hour).Unix()}), want: jwtx.ErrWrongAudience,
			reason: "another audience and not yet valid"},
		{name: "Prec/OversizeAlgNone", token: unsigned(f.header(map[string]any{"alg": "none", "pad": strings.Repeat("p", 9<<10)}), f.claims(nil), nil), want: jwtx.ErrTokenTooLarge,
			reason: "oversize and unsigned: size is checked before anything is decoded"},
	}
}
