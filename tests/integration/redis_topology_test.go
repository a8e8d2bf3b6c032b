package integration

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/google/uuid"
)

// meAfterFailover calls /me until it answers something other than 503
// (Redis unreachable during the failover: fail closed, retry-safe) and
// returns that status.
func meAfterFailover(t *testing.T, s *stack, token string) int {
	t.Helper()
	var status int
	testkit.Eventually(t, 30*time.Second, "/me answers without 503", func() bool {
		status = s.Me(token).Status
		return status != http.StatusServiceUnavailable
	})
	return status
}

// Behind Sentinel (REDIS_URL in its form for both services): every logout
// answered 204 before a failover is still enforced after it, at once (the
// service waited for a replica before announcing); logouts during and
// after it are enforced too; and the heartbeat is fresh on the new
// primary, so validators do not fail closed.
func TestSentinelFailoverKeepsRevocations(t *testing.T) {
	t.Parallel()
	sentinel := testkit.StartRedisSentinel(t)
	nt := testkit.StartNATS(t)
	s := newClusterStack(t, clusterOpts{natsURL: nt.URL, redisURL: sentinel.URL, logLevel: "info"})

	const n = 20
	var before, after []string
	for range n {
		name, _ := s.Register()
		tok := s.Login(name)
		if r := s.Logout(tok); r.Status != http.StatusNoContent {
			t.Fatalf("logout before the failover: %d %s", r.Status, r.Body)
		}
		before = append(before, tok)
		after = append(after, s.Login(name))
	}
	sentinel.Failover(t)
	for i, tok := range before {
		if st := meAfterFailover(t, s, tok); st != http.StatusUnauthorized {
			t.Fatalf("token %d revoked with a 204 before the failover: /me answers %d after it", i, st)
		}
	}
	for i, tok := range after {
		var r response
		testkit.Eventually(t, 30*time.Second, "logout after the failover", func() bool {
			r = s.Logout(tok)
			return r.Status != http.StatusServiceUnavailable // retry-safe
		})
		switch r.Status {
		case http.StatusNoContent:
			if st := s.Me(tok).Status; st != http.StatusUnauthorized {
				t.Fatalf("token %d: /me %d right after a 204", i, st)
			}
		case http.StatusAccepted:
			testkit.Eventually(t, 30*time.Second, "202'd token refused", func() bool { return s.Me(tok).Status == http.StatusUnauthorized })
		default:
			t.Fatalf("logout after the failover: %d %s", r.Status, r.Body)
		}
	}
	rdb, err := jwtx.NewRedisClient(sentinel.URL, jwtx.RedisClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	v := jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{MaxStaleness: 3 * time.Second})
	testkit.Eventually(t, 15*time.Second, "fresh heartbeat on the new primary", func() bool {
		_, err := v.RevocationState(context.Background(), jwtx.RevocationQuery{UserID: uuid.NewString()})
		return err == nil
	})
}

// The fail-open of issue #13: a revocation service pointed at one Redis
// server (not through Sentinel) that is demoted to a replica can no
// longer write (READONLY), and its checkpoint is still there. Validators
// on that server no longer trust it once the heartbeat is older than
// their MaxStaleness: a token whose logout could not be applied is
// refused (ErrRevocationStale, a 503), never accepted beyond that bound.
func TestDemotedPrimaryFailsClosed(t *testing.T) {
	t.Parallel()
	sentinel := testkit.StartRedisSentinel(t)
	nt := testkit.StartNATS(t)
	old := sentinel.MasterNode(t)
	s := newClusterStack(t, clusterOpts{natsURL: nt.URL, redisURL: old.URL, logLevel: "info"})
	name, _ := s.Register()
	if r := s.Logout(s.Login(name)); r.Status != http.StatusNoContent {
		t.Fatalf("logout before the failover: %d %s", r.Status, r.Body)
	}
	const staleness = 2 * time.Second
	vrdb, err := jwtx.NewRedisClient(old.URL, jwtx.RedisClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer vrdb.Close()
	v := jwtx.NewRedisStoreWithOptions(vrdb, jwtx.RedisStoreOptions{MaxStaleness: staleness})
	q := jwtx.RevocationQuery{UserID: uuid.NewString(), JTI: uuid.NewString()}
	if _, err := v.RevocationState(context.Background(), q); err != nil {
		t.Fatalf("before the failover: %v", err)
	}
	sentinel.Failover(t)
	// The old primary turns into a replica once the sentinels reconfigure
	// it; from then on nothing writes its heartbeat.
	testkit.Eventually(t, 30*time.Second, "old primary demoted", func() bool {
		info, err := vrdb.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "role:slave")
	})
	demoted := time.Now()
	var stale time.Time
	testkit.Eventually(t, 30*time.Second, "validators on the demoted server fail closed", func() bool {
		_, err := v.RevocationState(context.Background(), q)
		if errors.Is(err, jwtx.ErrRevocationStale) {
			stale = time.Now()
			return true
		}
		return false
	})
	// Bound: staleness + the heartbeat interval (1 s) + the check's own
	// time, from the last heartbeat before the demotion.
	if d := stale.Sub(demoted); d > staleness+3*time.Second {
		t.Errorf("validators trusted a Redis nobody writes for %s after it was demoted (allowed %s + 3 s)", d, staleness)
	}
	t.Logf("demoted primary refused by validators %s after its demotion", stale.Sub(demoted).Round(10*time.Millisecond))
}
