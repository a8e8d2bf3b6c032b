package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// propagationBudget is how long after a 202 (or after the end of a fault,
// whichever is later) a revocation must be enforced.
const propagationBudget = 5 * time.Second

// token is one issued access token as the oracle knows it. Times are
// nanoseconds since the oracle's base (monotonic); 0 means never.
type token struct {
	raw string
	claims
	byLogout, byAll atomic.Bool  // an acknowledged revocation covers it
	bySession       atomic.Bool  // its session was revoked (refresh token reuse answered 401)
	acked204        atomic.Int64 // first 204 receipt (or 401 refresh_token_reused of its session)
	acked202        atomic.Int64 // first 202 receipt
	logoutSent      atomic.Int64 // a revocation request was sent
	logoutStart     atomic.Int64
	enforcedSeen    atomic.Bool
	ackStats        atomic.Pointer[Stats] // the scenario in which the 202 came
}

// Oracle records what the services acknowledged and judges every answer
// against it.
type Oracle struct {
	base time.Time

	mu     sync.RWMutex
	tokens []*token

	stats       atomic.Pointer[Stats]
	faultActive atomic.Bool
	recoveredAt atomic.Int64
	strictLive  atomic.Bool // a live token rejected is a violation (clock skew)
	firstClosed atomic.Int64
	budget      atomic.Int64 // the 202 budget of the current scenario (propagationBudget when 0)
}

// SetBudget sets how long after a 202 (or the end of the fault) the
// current scenario allows a revoked token to be accepted; 0 restores
// propagationBudget.
func (o *Oracle) SetBudget(d time.Duration) { o.budget.Store(int64(d)) }

func (o *Oracle) budget202() int64 {
	if b := o.budget.Load(); b > 0 {
		return b
	}
	return int64(propagationBudget)
}

// NewOracle returns an empty oracle.
func NewOracle() *Oracle { return &Oracle{base: time.Now()} }

func (o *Oracle) at(t time.Time) int64 { return int64(t.Sub(o.base)) }

// S returns the current scenario's statistics.
func (o *Oracle) S() *Stats { return o.stats.Load() }

// Issued records a token returned by login.
func (o *Oracle) Issued(raw string) *token {
	c, ok := peek(raw)
	if !ok {
		o.S().Violate("login returned a token without jti/sub: %.40q", raw)
		return nil
	}
	t := &token{raw: raw, claims: c}
	o.mu.Lock()
	o.tokens = append(o.tokens, t)
	o.mu.Unlock()
	return t
}

// Pick returns a random token, biased to recent ones.
func (o *Oracle) Pick(r *rand.Rand) *token {
	o.mu.RLock()
	defer o.mu.RUnlock()
	n := len(o.tokens)
	if n == 0 {
		return nil
	}
	window := min(n, 4000)
	return o.tokens[n-1-r.IntN(window)]
}

// Snapshot returns every token issued so far.
func (o *Oracle) Snapshot() []*token {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return append([]*token(nil), o.tokens...)
}

// RevocationSent marks tokens whose revocation was just requested.
func (o *Oracle) RevocationSent(start time.Time, toks ...*token) {
	for _, t := range toks {
		t.logoutSent.CompareAndSwap(0, o.at(start))
	}
}

// Revoked records the answer to a logout (all=false) or logout-all
// covering toks.
func (o *Oracle) Revoked(c call, all bool, toks ...*token) {
	s := o.S()
	switch c.Status {
	case http.StatusNoContent, http.StatusAccepted:
		s.Acked.Add(1)
		if c.Status == http.StatusAccepted {
			s.Acked202.Add(1)
		} else {
			s.record(&s.prop, c.End.Sub(c.Start))
		}
		for _, t := range toks {
			if all {
				t.byAll.Store(true)
			} else {
				t.byLogout.Store(true)
			}
			field := &t.acked204
			if c.Status == http.StatusAccepted {
				field = &t.acked202
				t.ackStats.CompareAndSwap(nil, s)
			}
			field.CompareAndSwap(0, o.at(c.End))
			t.logoutStart.CompareAndSwap(0, o.at(c.Start))
		}
	case http.StatusServiceUnavailable:
		s.Unconfirmed.Add(1)
		at := o.at(c.End)
		s.first503.CompareAndSwap(0, at)
		atomicMax(&s.last503, at)
	case 0:
		s.TransportErr.Add(1)
	default:
		if c.Status >= 500 {
			s.FiveXX.Add(1)
			s.Violate("logout answered %d: %.200s", c.Status, c.Body)
		}
	}
}

// Validated judges one validation of t (a validator's route or /me).
func (o *Oracle) Validated(where string, t *token, c call) {
	s := o.S()
	switch {
	case c.Status == 0:
		s.TransportErr.Add(1)
		return
	case c.Status == http.StatusServiceUnavailable:
		s.Validations.Add(1)
		s.FailClosed.Add(1)
		o.firstClosed.CompareAndSwap(0, o.at(c.End))
		s.firstClosed.CompareAndSwap(0, o.at(c.End))
		atomicMax(&s.lastClosed, o.at(c.End))
		return
	case c.Status >= 500:
		s.Validations.Add(1)
		s.FiveXX.Add(1)
		s.Violate("%s answered %d: %.200s", where, c.Status, c.Body)
		return
	}
	s.Validations.Add(1)
	start := o.at(c.Start)
	if c.Status == http.StatusUnauthorized {
		if as := t.ackStats.Load(); as == s && t.acked204.Load() == 0 && t.enforcedSeen.CompareAndSwap(false, true) {
			// A 202: propagation is until the first refusal seen.
			s.record(&s.prop, time.Duration(o.at(c.End)-t.logoutStart.Load()))
		}
		if sent := t.logoutSent.Load(); sent == 0 || sent > o.at(c.End) {
			s.FalseReject.Add(1)
			// token_revoked on a never-revoked token is the documented
			// fail-safe after an auth crash between PubAck and version
			// raise (scenario 2); a skew shows as invalid_token.
			if o.strictLive.Load() && !strings.Contains(c.Body, "token_revoked") {
				s.Violate("%s rejected a live token (%s): %.200s", where, t.JTI, c.Body)
			}
		}
		return
	}
	if c.Status != http.StatusOK {
		return
	}
	if r := t.acked204.Load(); r != 0 && start > r {
		s.RevokedAccepted.Add(1)
		s.Violate("%s accepted token %s %s after its revocation was acknowledged (204, or 401 to a refresh-token reuse)", where, t.JTI, time.Duration(start-r))
		return
	}
	if r := t.acked202.Load(); r != 0 && start > r {
		atomicMax(&s.max202Accepted, start-r)
	}
	if r := t.acked202.Load(); r != 0 && !o.faultActive.Load() {
		deadline := max(r, o.recoveredAt.Load()) + o.budget202()
		if start > deadline {
			s.RevokedAccepted.Add(1)
			s.Violate("%s accepted token %s %s after its 202 + budget", where, t.JTI, time.Duration(start-deadline))
		}
	}
}

// FaultBegins and FaultEnds bracket a fault: the 202 budget runs from the
// end of the fault.
func (o *Oracle) FaultBegins() { o.faultActive.Store(true) }

// FaultEnds records the recovery time.
func (o *Oracle) FaultEnds() {
	o.recoveredAt.Store(o.at(time.Now()))
	o.faultActive.Store(false)
}

// Stats are one scenario's figures.
type Stats struct {
	Name                                       string
	Acked, Acked202, Unconfirmed, TransportErr atomic.Int64
	Lost, RevokedAccepted, Validations         atomic.Int64
	FailClosed, FalseReject, FiveXX, Fuzzed    atomic.Int64
	Published                                  atomic.Int64
	first503, last503                          atomic.Int64 // logout 503s, oracle time
	firstClosed, lastClosed                    atomic.Int64 // validation 503s, oracle time
	max202Accepted                             atomic.Int64 // longest a token was accepted after its 202
	TimeToFailClosed                           time.Duration
	Elapsed                                    time.Duration

	mu         sync.Mutex
	prop       []time.Duration
	reject     []time.Duration
	Notes      []string
	Violations []string
	nviol      int
}

// atomicMax raises a to v.
func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Window503 returns how long logout answered 503 in the scenario (first
// to last such answer) and 0 when it never did.
func (s *Stats) Window503() time.Duration {
	if f := s.first503.Load(); f != 0 {
		return time.Duration(s.last503.Load() - f)
	}
	return 0
}

// WindowClosed returns how long validations answered 503 in the scenario
// (first to last such answer) and 0 when they never did.
func (s *Stats) WindowClosed() time.Duration {
	if f := s.firstClosed.Load(); f != 0 {
		return time.Duration(s.lastClosed.Load() - f)
	}
	return 0
}

// Max202Accepted returns the longest time a token was still accepted (a
// validation started) after its revocation was answered 202.
func (s *Stats) Max202Accepted() time.Duration { return time.Duration(s.max202Accepted.Load()) }

// Violate records a broken guarantee.
func (s *Stats) Violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nviol++
	if len(s.Violations) < 20 {
		s.Violations = append(s.Violations, fmt.Sprintf(format, args...))
	}
}

// Note records an observation for the report.
func (s *Stats) Note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// ViolationCount is the number of violations recorded.
func (s *Stats) ViolationCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nviol
}

func (s *Stats) record(dst *[]time.Duration, d time.Duration) {
	s.mu.Lock()
	*dst = append(*dst, d)
	s.mu.Unlock()
}

// RecordReject records how long a fail-closed rejection took.
func (s *Stats) RecordReject(d time.Duration) { s.record(&s.reject, d) }

// quantiles returns p50, p99 and max of d (zeros when empty).
func quantiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return q(0.50), q(0.99), s[len(s)-1]
}

// Propagation returns p50, p99 and max propagation times.
func (s *Stats) Propagation() (time.Duration, time.Duration, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return quantiles(s.prop)
}

// RejectP99 returns the p99 time a fail-closed rejection took.
func (s *Stats) RejectP99() (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, p99, _ := quantiles(s.reject)
	return p99, len(s.reject)
}
