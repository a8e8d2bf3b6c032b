package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// reuseGrace is AUTH_REFRESH_REUSE_GRACE of the chaos cluster: short, so
// that a thief can replay a spent refresh token after the grace window
// many times per scenario.
const reuseGrace = 250 * time.Millisecond

// session is one login as a thief's victim: every access token it was
// answered, in order, and the refresh token the victim holds now.
type session struct {
	sid     string
	tokens  []*token
	refresh string
}

// stolen is the record of the sessions revoked by a reuse answer: the
// tokens no validator may accept after the 401 (the oracle's acked204 is
// set on each).
type stolen struct {
	mu       sync.Mutex
	sessions []*session
	retried  int // 401s that came after at least one 503
	unconf   int // replays answered 503
	checked  int // validations right after a 401
}

func (s *stolen) add(ss *session, after503 bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = append(s.sessions, ss)
	if after503 {
		s.retried++
	}
}

func (s *stolen) counts() (sessions, retried, unconf, checked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions), s.retried, s.unconf, s.checked
}

func (s *stolen) note(unconf, checked int) {
	s.mu.Lock()
	s.unconf += unconf
	s.checked += checked
	s.mu.Unlock()
}

// snapshot returns every stolen session so far.
func (s *stolen) snapshot() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*session(nil), s.sessions...)
}

// tokenPair is the body of a login or refresh answer.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// errorCode is the "error" member of a JSON error body ("" when none).
func errorCode(body string) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error
}

// judgeAuth counts an auth answer that is neither success nor a refusal:
// a 503 is retry-safe, any other 5xx a violation.
func (l *Load) judgeAuth(what string, c call) {
	if c.Status >= 500 && c.Status != http.StatusServiceUnavailable {
		l.o.S().FiveXX.Add(1)
		l.o.S().Violate("%s answered %d: %.200s", what, c.Status, c.Body)
	}
}

// loginSession logs name in and returns its session, retrying while auth
// answers 503 or is down.
func (l *Load) loginSession(ctx context.Context, name string) *session {
	for ctx.Err() == nil {
		c := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/login", "", credentials(name))
		if c.Status == http.StatusOK {
			var p tokenPair
			if err := json.Unmarshal([]byte(c.Body), &p); err != nil || p.RefreshToken == "" {
				l.o.S().Violate("login answered 200 without a refresh token: %.200s", c.Body)
				return nil
			}
			t := l.o.Issued(p.AccessToken)
			if t == nil {
				return nil
			}
			if t.SID == "" {
				l.o.S().Violate("login answered an access token without sid")
				return nil
			}
			return &session{sid: t.SID, tokens: []*token{t}, refresh: p.RefreshToken}
		}
		l.judgeAuth("login", c)
		pause(ctx, 50*time.Millisecond)
	}
	return nil
}

// rotate is the victim's own refresh: it spends ss.refresh and records the
// new pair. It returns when the refresh token was spent (the time the
// answer came) or ctx ended.
func (l *Load) rotate(ctx context.Context, ss *session) (spent time.Time, ok bool) {
	body := `{"refresh_token":"` + ss.refresh + `"}`
	for ctx.Err() == nil {
		c := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/refresh", "", body)
		switch c.Status {
		case http.StatusOK:
			var p tokenPair
			if err := json.Unmarshal([]byte(c.Body), &p); err != nil || p.RefreshToken == "" || p.RefreshToken == ss.refresh {
				l.o.S().Violate("refresh answered 200 without a new refresh token: %.200s", c.Body)
				return time.Time{}, false
			}
			t := l.o.Issued(p.AccessToken)
			if t == nil {
				return time.Time{}, false
			}
			if t.SID != ss.sid {
				l.o.S().Violate("refresh of session %s answered a token of session %q", ss.sid, t.SID)
			}
			ss.tokens = append(ss.tokens, t)
			ss.refresh = p.RefreshToken
			return c.End, true
		case http.StatusUnauthorized:
			l.o.S().Violate("the victim's own refresh of a live session was refused: %.200s", c.Body)
			return time.Time{}, false
		}
		l.judgeAuth("refresh", c)
		pause(ctx, 50*time.Millisecond)
	}
	return time.Time{}, false
}

// thief steals sessions of its own user, over and over: the victim logs
// in and refreshes twice; after the grace window the thief replays the
// first (spent) refresh token. The answer must be 401
// refresh_token_reused (503 while the revocation cannot be confirmed, then
// retried), and from that answer on no validator may accept any access
// token of the session: checked at once on every validator and auth's
// /me, then by the hammers until the end of the run.
func (l *Load) thief(ctx context.Context, id int) {
	r := rand.New(rand.NewPCG(uint64(id)+1<<32, uint64(time.Now().UnixNano())))
	name := fmt.Sprintf("thief%d-%x", id, r.Uint64())
	if !l.register(ctx, name) {
		return
	}
	for ctx.Err() == nil {
		ss := l.loginSession(ctx, name)
		if ss == nil {
			return
		}
		first := ss.refresh
		var spent time.Time
		for range 2 {
			at, ok := l.rotate(ctx, ss)
			if !ok {
				return
			}
			if spent.IsZero() {
				spent = at
			}
		}
		// The first token was spent when its refresh answered; the replay
		// must come after the grace window, by the clock.
		pause(ctx, time.Until(spent.Add(reuseGrace+50*time.Millisecond)))
		if !l.replay(ctx, ss, first) {
			return
		}
	}
}

// replay presents the spent refresh token of ss until it is refused, and
// judges what follows.
func (l *Load) replay(ctx context.Context, ss *session, spent string) bool {
	body := `{"refresh_token":"` + spent + `"}`
	l.o.RevocationSent(time.Now(), ss.tokens...)
	unconfirmed := 0
	for ctx.Err() == nil {
		c := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/refresh", "", body)
		switch c.Status {
		case http.StatusUnauthorized:
			code := errorCode(c.Body)
			// invalid_grant: the session was revoked and its revocation
			// enforced by an earlier attempt whose answer was lost.
			if code != "refresh_token_reused" && (code != "invalid_grant" || unconfirmed == 0) {
				l.o.S().Violate("replay of a spent refresh token answered 401 %q, want refresh_token_reused: %.200s", code, c.Body)
			}
			l.stole(ctx, ss, c, unconfirmed)
			return true
		case http.StatusOK:
			l.o.S().RevokedAccepted.Add(1)
			l.o.S().Violate("replay of a refresh token spent more than the grace window ago answered a new pair")
			return true
		case http.StatusServiceUnavailable, 0:
			unconfirmed++
		default:
			l.judgeAuth("refresh replay", c)
		}
		pause(ctx, 100*time.Millisecond)
	}
	return false
}

// stole records the refusal c of a replay: every token of ss is revoked
// from c.End on. It validates each at once everywhere, and checks that the
// victim's live refresh token is dead too.
func (l *Load) stole(ctx context.Context, ss *session, c call, unconfirmed int) {
	for _, t := range ss.tokens {
		t.bySession.Store(true)
		t.acked204.CompareAndSwap(0, l.o.at(c.End))
	}
	s := l.o.S()
	s.Acked.Add(1)
	l.stolen.add(ss, unconfirmed > 0)
	checked := 0
	for _, t := range ss.tokens {
		for i := -1; i < len(l.c.ValURL); i++ {
			if l.Validate(ctx, i, t).Status != 0 {
				checked++
			}
		}
	}
	l.stolen.note(unconfirmed, checked)
	// The victim's latest refresh token belongs to the revoked session.
	v := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/refresh", "", `{"refresh_token":"`+ss.refresh+`"}`)
	switch {
	case v.Status == http.StatusOK:
		s.RevokedAccepted.Add(1)
		s.Violate("the live refresh token of a session revoked by reuse answered a new pair")
	case v.Status == http.StatusUnauthorized && !strings.Contains(v.Body, "invalid_grant") && !strings.Contains(v.Body, "refresh_token_reused"):
		s.Violate("refresh of a session revoked by reuse answered 401 without invalid_grant: %.200s", v.Body)
	default:
		l.judgeAuth("refresh of a revoked session", v)
	}
}

// SweepStolen validates every access token of every stolen session on
// every validator once more (the end of the run: still refused).
func (l *Load) SweepStolen(ctx context.Context) int {
	n := 0
	for _, ss := range l.stolen.snapshot() {
		for _, t := range ss.tokens {
			for i := -1; i < len(l.c.ValURL); i++ {
				if l.Validate(ctx, i, t).Status != 0 {
					n++
				}
			}
		}
	}
	return n
}
