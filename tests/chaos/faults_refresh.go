package chaos

import (
	"context"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// refreshReuse runs while thieves replay spent refresh tokens (the
// scenario's load has Config.Thieves of them): Redis is restarted empty
// under a running revocation service, then the revocation service is
// killed with SIGKILL, Redis restarted empty again while nobody can
// rebuild it, and the service started again. A reuse answered while the
// revocation cannot be enforced is a 503 (retried by the thief); every
// 401 is judged by the oracle from its arrival on: no validator accepts
// any access token of that session, neither right after it nor later
// (the hammers, and the sweep at the end of the scenario).
func refreshReuse(ctx context.Context, e *env) error {
	// Redis restarted empty while the revocation service runs.
	if err := e.redisEmptyJudged(ctx, "Redis restarted empty during refresh-token reuse", func() error { return nil }); err != nil {
		return err
	}
	// The revocation service killed: reuse cannot be enforced (503), then
	// Redis restarted empty with nobody to rebuild it; the service back.
	e.c.Rev[0].Kill()
	pause(ctx, revocationWait+e.cfg.Hold/2) // replays meanwhile wait their revocation out: 503
	err := e.redisEmptyJudged(ctx, "Redis empty and the revocation service killed", func() error {
		pause(ctx, e.cfg.Hold/2)
		return e.c.Rev[0].Start()
	})
	if err != nil {
		return err
	}
	if err := e.c.WaitReady(ctx, e.c.RevURL[0]+"/readyz", e.cfg.SettleMax); err != nil {
		return err
	}
	return e.recovered(ctx)
}

// redisEmptyJudged kills Redis, waits Hold, starts it empty, runs between
// (after the start, before the rebuild is awaited), and waits for the
// checkpoint to come back; no validation that ended while the checkpoint
// was missing may have been accepted.
func (e *env) redisEmptyJudged(ctx context.Context, what string, between func() error) error {
	w := e.observe()
	e.c.Redis.Proc.Kill()
	pause(ctx, e.cfg.Hold)
	if err := e.c.Redis.Start(ctx); err != nil {
		e.load.Observe(nil)
		return err
	}
	if err := between(); err != nil {
		e.load.Observe(nil)
		return err
	}
	var lastMissing time.Time
	err := testkit.Poll(ctx, e.cfg.SettleMax, "checkpoint back after the rebuild", func() bool {
		if e.c.Checkpoint(ctx) < 0 {
			lastMissing = time.Now()
			return false
		}
		return true
	})
	e.load.Observe(nil)
	if d := w.judge(e.s, what, lastMissing); d >= 0 && d > e.s.TimeToFailClosed {
		e.s.TimeToFailClosed = d
	}
	return err
}

// judgeThieves, at the end of the scenario, validates every token of
// every stolen session once more and reports what the thieves did; a run
// in which no session was stolen judged nothing and is a violation.
func (e *env) judgeThieves(ctx context.Context) {
	swept := e.load.SweepStolen(ctx)
	sessions, retried, unconf, checked := e.load.stolen.counts()
	if sessions == 0 {
		e.s.Violate("the thieves got no session revoked: nothing was judged")
		return
	}
	e.s.Note("%d sessions revoked by refresh-token reuse (%d of them answered 401 only after a 503 retry; %d replays answered 503 or lost); "+
		"%d validations of their tokens right after the 401 and %d at the end: none may be accepted",
		sessions, retried, unconf, checked, swept)
}
