package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"syscall"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// restartRevocation starts revocation service i again and waits until it
// is ready (caught up with the stream).
func (e *env) restartRevocation(ctx context.Context, i int) error {
	if err := e.c.Rev[i].Start(); err != nil {
		return err
	}
	return e.c.WaitReady(ctx, e.c.RevURL[i]+"/readyz", e.cfg.SettleMax)
}

// ackFloor returns the durable consumer's ack floor (stream sequence).
func (e *env) ackFloor(ctx context.Context) (uint64, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cons, err := e.c.JS.Consumer(ctx, events.StreamName, "revocation")
	if err != nil {
		return 0, false
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, false
	}
	return info.AckFloor.Stream, true
}

// killRevocation kills the revocation service with SIGKILL, repeatedly,
// aiming at the moment between its Redis write and its ack: it freezes the
// process (SIGSTOP), and kills it when Redis's checkpoint is ahead of the
// consumer's ack floor (written, not acked); otherwise it thaws it and
// tries again a moment later.
func killRevocation(ctx context.Context, e *env) error {
	rev := e.c.Rev[0]
	hits := 0
	for range e.cfg.Kills {
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if err := rev.Signal(syscall.SIGSTOP); err != nil {
				return err
			}
			floor, ok := e.ackFloor(ctx)
			if ok && e.c.Checkpoint(ctx) > int64(floor) {
				hits++
				break
			}
			if err := rev.Signal(syscall.SIGCONT); err != nil {
				return err
			}
			pause(ctx, time.Duration(1+rand.IntN(20))*time.Millisecond)
		}
		rev.Kill()
		if err := e.restartRevocation(ctx, 0); err != nil {
			return err
		}
	}
	e.s.Note("%d kill -9, %d of them with Redis written but the ack not yet received by JetStream", e.cfg.Kills, hits)
	return nil
}

// killAuthBeforePubAck holds JetStream's replies to the auth service, so
// that a logout's event is stored but its PubAck never arrives, kills the
// auth service, restarts it, and retries the logout as a client would: the
// stream must hold the event once (Nats-Msg-Id) and the token be refused.
func killAuthBeforePubAck(ctx context.Context, e *env) error {
	for i := range e.cfg.Retries {
		name := fmt.Sprintf("retry%d-%x", i, rand.Uint64())
		if !e.load.register(ctx, name) {
			return ctx.Err()
		}
		t := e.load.Login(ctx, name)
		if t == nil {
			return ctx.Err()
		}
		subject := events.SubjectTokenPrefix + t.Sub
		e.c.AuthNATS.SetMode(HoldReplies)
		done := make(chan call, 1)
		go func() { done <- e.load.Logout(ctx, t, false, nil) }()
		err := testkit.Poll(ctx, 10*time.Second, "the logout's event stored", func() bool {
			n, err := e.c.SubjectCount(ctx, subject)
			return err == nil && n >= 1
		})
		e.c.Auth.Kill()
		e.c.AuthNATS.SetMode(Forward)
		first := <-done
		if err != nil {
			return err
		}
		if first.Status == http.StatusNoContent || first.Status == http.StatusAccepted {
			return fmt.Errorf("logout answered %d although its PubAck was held", first.Status)
		}
		if err := e.c.Auth.Start(); err != nil {
			return err
		}
		if err := e.c.WaitReady(ctx, e.c.AuthURL+"/readyz", 60*time.Second); err != nil {
			return err
		}
		var retry call
		for range 20 {
			retry = e.load.Logout(ctx, t, false, nil)
			if retry.Status == http.StatusNoContent || retry.Status == http.StatusAccepted {
				break
			}
			pause(ctx, 100*time.Millisecond)
		}
		if retry.Status != http.StatusNoContent && retry.Status != http.StatusAccepted {
			return fmt.Errorf("retried logout answered %d: %s", retry.Status, retry.Body)
		}
		if n, err := e.c.SubjectCount(ctx, subject); err != nil || n != 1 {
			e.s.Violate("after a retried logout the stream holds %d events for %s (want 1): %v", n, subject, err)
		}
		for v := range e.c.ValURL {
			e.load.Validate(ctx, v, t)
		}
	}
	e.s.Note("%d logouts killed before their PubAck and retried: one event each", e.cfg.Retries)
	return nil
}

// killNATS kills nats-server with SIGKILL and starts it again on the same
// store directory after the outage.
func killNATS(ctx context.Context, e *env) error {
	e.c.NATS.Kill()
	pause(ctx, e.cfg.Hold)
	if err := e.c.RestartNATS(ctx); err != nil {
		return err
	}
	if err := e.c.WaitReady(ctx, e.c.AuthURL+"/readyz", 60*time.Second); err != nil {
		return err
	}
	return e.c.WaitReady(ctx, e.c.RevURL[0]+"/readyz", e.cfg.SettleMax)
}

// clockSkew restarts the validators with their clocks 20s ahead, 20s
// behind and 25s ahead of the auth service (leeway 30s): live tokens must
// still be accepted, revoked ones refused.
func clockSkew(ctx context.Context, e *env) error {
	skews := []string{"20s", "-20s", "25s", "-25s"}
	for i := range e.c.Validators {
		if err := e.c.RestartValidator(ctx, i, "VALIDATOR_CLOCK_SKEW="+skews[i%len(skews)]); err != nil {
			return err
		}
	}
	e.o.strictLive.Store(true)
	pause(ctx, 2*e.cfg.Hold)
	e.o.strictLive.Store(false)
	for i := range e.c.Validators {
		if err := e.c.RestartValidator(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// twoRevocationServices runs a second revocation service on the same
// durable consumer under load, then stops it.
func twoRevocationServices(ctx context.Context, e *env) error {
	i, err := e.c.StartExtraRevocation(ctx)
	if err != nil {
		return err
	}
	pause(ctx, 2*e.cfg.Hold)
	e.c.Rev[i].Kill() // and a crash of one of the two, for good measure
	return nil
}
