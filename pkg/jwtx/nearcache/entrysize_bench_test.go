package nearcache

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// BenchmarkEntryMemory reports the live heap one entry of the view costs,
// by kind: a revoked token (jti), a revoked session (sid) and a user
// version, each measured over 200,000 entries of that kind alone.
func BenchmarkEntryMemory(b *testing.B) {
	const n = 200_000
	now := time.Now()
	r := revocation.Retention{MaxTokenTTL: time.Hour, Leeway: 30 * time.Second}
	for _, kind := range []struct {
		name string
		ev   func() revocation.Event
	}{
		{"token", func() revocation.Event {
			return revocation.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
		}},
		{"session", func() revocation.Event {
			return revocation.SessionRevoked{UserID: uuid.NewString(), SessionID: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
		}},
		{"user", func() revocation.Event {
			return revocation.UserTokensRevoked{UserID: uuid.NewString(), Version: 2}.Event(now)
		}},
	} {
		b.Run(kind.name, func(b *testing.B) {
			evs := make([]revocation.Event, n)
			for i := range evs {
				evs[i] = kind.ev()
			}
			var perEntry float64
			for range b.N {
				before := heapNow()
				s := &state{tokens: map[uuidKey]uint32{}, sessions: map[uuidKey]uint32{}, users: map[uuidKey]userEntry{}}
				for _, ev := range evs {
					s.apply(r, ev, now.UnixMilli())
				}
				after := heapNow()
				if tk, ss, us := s.counts(); tk+ss+us != n {
					b.Fatalf("%d entries, want %d", tk+ss+us, n)
				}
				perEntry = float64(after-min(before, after)) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perEntry, "B/entry")
		})
	}
}

func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
