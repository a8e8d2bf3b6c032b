package revocation_test

import (
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// BenchmarkDecode measures Decode on the two event bodies the revocation
// service ingests (tens of thousands a second, one Decode each).
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   revocation.Event
	}{
		{"TokenRevoked", revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(15 * time.Minute), Reason: revocation.ReasonLogout, Actor: revocation.UserActor(user)}.Event(now)},
		{"UserTokensRevoked", revocation.UserTokensRevoked{UserID: user, Version: 42, ExpiresAt: now.Add(time.Hour), Reason: revocation.ReasonLogoutAll, Actor: revocation.UserActor(user)}.Event(now)},
	} {
		body, err := revocation.Encode(bc.ev)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := revocation.Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
