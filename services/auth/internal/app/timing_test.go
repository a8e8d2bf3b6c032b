package app_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestLoginTimingUnknownUserVsWrongPassword measures both failures over
// 30 attempts each, interleaved so that load on the machine hits both
// alike, with argon2id at 8 MiB so that hashing (tens of milliseconds
// under -race) dominates the rest of a login (about a millisecond). The
// medians must be within 0.5x-2x: generous enough for a loaded 2-core
// machine, while an unknown-user path that skipped hashing would be
// about 10x faster and fail.
func TestLoginTimingUnknownUserVsWrongPassword(t *testing.T) {
	s := startStack(t, map[string]string{
		"AUTH_ARGON2_MEMORY_KIB": "8192", "AUTH_LOGIN_RATE_USER": "off", "AUTH_LOGIN_RATE_IP": "off",
	})
	s.register("alice", "correct horse")
	const n = 30
	var wrong, unknown []time.Duration
	var wrongBody, unknownBody string
	attempt := func(user string) (time.Duration, string) {
		start := time.Now()
		res := s.post("/v1/auth/login", "", creds(user, "wrong horse"))
		took := time.Since(start)
		wantError(t, res, http.StatusUnauthorized, "invalid_credentials")
		return took, string(res.body)
	}
	for i := range n + 2 {
		var w, u time.Duration
		if i%2 == 0 {
			w, wrongBody = attempt("alice")
			u, unknownBody = attempt("nobody")
		} else {
			u, unknownBody = attempt("nobody")
			w, wrongBody = attempt("alice")
		}
		if wrongBody != unknownBody {
			t.Fatalf("bodies differ:\n%s\n%s", wrongBody, unknownBody)
		}
		if i >= 2 { // the first rounds warm up connections and caches
			wrong, unknown = append(wrong, w), append(unknown, u)
		}
	}
	mw, mu := median(wrong), median(unknown)
	ratio := float64(mu) / float64(mw)
	t.Logf("median over %d attempts: wrong password %s, unknown user %s, ratio %.2f", n, mw, mu, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown user takes %.2fx the time of a wrong password (medians %s vs %s), want 0.5x-2x", ratio, mu, mw)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
