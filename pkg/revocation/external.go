package revocation

import (
	"crypto/sha256"
	"encoding/hex"
)

// ExternalID returns the id under which the revocation state of id (a sub,
// jti or sid claim) issued by iss is kept: in event bodies (user_id, jti,
// sid), in subjects and in Redis keys. A canonical UUID is its own id, as
// this project's tokens use; any other string is replaced by a UUID that
// digests (iss, id), so that an issuer's subjects of any form ("auth0|64f1",
// "alice@example.com") become safe subject tokens and key suffixes, and
// equal strings of two issuers do not collide.
//
// The digest, for ports to other languages (docs/CONTRACT.md): b =
// SHA-256(iss || 0x00 || id), the first 16 bytes of it, with the RFC 9562
// version 8 and variant bits set (b[6] = b[6]&0x0f | 0x80; b[8] = b[8]&0x3f
// | 0x80), written as a canonical lower-case hyphenated UUID. iss and id
// are the claims' strings as UTF-8; validators refuse a NUL in either, so
// the separator is unambiguous.
func ExternalID(iss, id string) string {
	if IsUUID(id) {
		return id
	}
	h := sha256.New()
	h.Write([]byte(iss))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	b := h.Sum(sum[:0])[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
