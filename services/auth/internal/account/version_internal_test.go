package account

import (
	"math"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/events"
)

func TestTargetVersion(t *testing.T) {
	const maxVer = events.MaxVersion
	cases := []struct {
		name             string
		stored, tokenVer int64
		want             int64 // 0: exhausted, ok false
	}{
		{"CurrentToken", 0, 0, 1},
		{"CurrentTokenLater", 4, 4, 5},
		{"AlreadyRevokedToken", 5, 3, 5},
		{"TokenAheadOfStore", 2, 7, 8},
		{"LastVersion", maxVer - 1, maxVer - 1, maxVer},
		{"AlreadyRevokedAtMax", maxVer, 3, maxVer},
		// Red-team finding 2: max(stored, ver)+1 overflowed to a negative
		// version, and every logout-all answered 503 "retry" for good.
		{"ErrStoredAtMax", maxVer, maxVer, 0},
		{"ErrTokenAtMax", 2, maxVer, 0},
		{"ErrStoredMaxInt64", math.MaxInt64, math.MaxInt64, 0},
		{"ErrStoredMaxInt64OldToken", math.MaxInt64, 3, 0},
		{"ErrTokenMaxInt64", 0, math.MaxInt64, 0},
		{"ErrStoredAboveMax", maxVer + 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := targetVersion(tc.stored, tc.tokenVer)
			if tc.want == 0 {
				if ok {
					t.Fatalf("targetVersion(%d, %d) = %d, want exhausted", tc.stored, tc.tokenVer, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("targetVersion(%d, %d) = %d, %v; want %d", tc.stored, tc.tokenVer, got, ok, tc.want)
			}
			if got > maxVer || got < 1 {
				t.Fatalf("targetVersion(%d, %d) = %d outside 1..events.MaxVersion", tc.stored, tc.tokenVer, got)
			}
		})
	}
}

// TestEventID: with a key, one revocation has one id (a repeated logout is
// stored once) that nobody without the key can compute; without a key,
// the random id events gave the event is kept.
func TestEventID(t *testing.T) {
	ka, kb := []byte("key a"), []byte("key b")
	id1 := eventID(ka, "r1", "token.revoked", "jti", "1")
	if id1 != eventID(ka, "r2", "token.revoked", "jti", "1") {
		t.Fatal("the same revocation got two ids")
	}
	for name, other := range map[string]string{
		"OtherKey":    eventID(kb, "r1", "token.revoked", "jti", "1"),
		"OtherExpiry": eventID(ka, "r1", "token.revoked", "jti", "2"),
		"OtherType":   eventID(ka, "r1", "user.tokens_revoked", "jti", "1"),
		"Joined":      eventID(ka, "r1", "token.revoked", "jti\x001"),
	} {
		if other == id1 {
			t.Errorf("%s: same id %s", name, id1)
		}
	}
	if !events.IsUUID(id1) {
		t.Fatalf("id %q is not a canonical UUID", id1)
	}
	if got := eventID(nil, "random", "token.revoked", "jti", "1"); got != "random" {
		t.Fatalf("without a key: %q, want the random id kept", got)
	}
}
