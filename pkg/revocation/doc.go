// Package revocation is the contract every party to JWT revocation agrees
// on, with no transport attached: the events (TokenRevoked,
// UserTokensRevoked), their subjects and strict JSON encoding, the Redis
// key names validators read, the expiry and merge rules every view of the
// stream applies (Retention), and DecodeBatch, the one way to turn stream
// messages into events. It needs no NATS and no Redis client: pkg/jwtx
// imports it for the key names, pkg/events adds the JetStream adapters,
// and a consumer in another process (or a port to another language) can
// follow it alone.
//
// Encoding an event, and decoding what arrives on its subject:
//
//	body, err := revocation.Encode(revocation.TokenRevoked{UserID: sub, JTI: jti, ExpiresAt: exp}.Event(time.Now()))
//	evs, invalid := revocation.DecodeBatch([]revocation.Message{{Subject: subj, Data: body, Seq: seq}})
//
// The rules are written out for other languages in docs/CONTRACT.md;
// revocationtest holds the test vectors of the expiry and merge rules.
package revocation
