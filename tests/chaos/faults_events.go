package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// waitApplied waits until the checkpoint reaches seq.
func (e *env) waitApplied(ctx context.Context, seq uint64) error {
	return testkit.Poll(ctx, 30*time.Second, fmt.Sprintf("checkpoint >= %d", seq), func() bool {
		return e.c.Checkpoint(ctx) >= int64(seq)
	})
}

// slowConsumer freezes the revocation service for longer than its AckWait
// while a backlog of events is published, then thaws it: every event must
// be applied, and the lag must show in its metrics.
func slowConsumer(ctx context.Context, e *env) error {
	rev := e.c.Rev[0]
	if err := rev.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	paused := time.Now()
	jtis, err := e.publishBacklog(ctx, e.cfg.Backlog)
	published := time.Since(paused)
	pause(ctx, 2*ackWait+500*time.Millisecond-time.Since(paused))
	if cerr := rev.Signal(syscall.SIGCONT); cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	resumed := time.Now()
	peak := 0.0
	err = testkit.Poll(ctx, e.cfg.SettleMax, "backlog drained", func() bool {
		peak = max(peak, scrape(ctx, e.c.RevMetricsURL[0], "revocation_consumer_pending"))
		return e.c.ConsumerIdle(ctx)
	})
	e.s.Published.Add(int64(len(jtis)))
	e.s.Note("backlog of %d published in %s while paused %s (AckWait %s); drained %s after resume; peak revocation_consumer_pending %v",
		len(jtis), published.Round(time.Millisecond), resumed.Sub(paused).Round(time.Millisecond), ackWait,
		time.Since(resumed).Round(time.Millisecond), peak)
	if err != nil {
		return err
	}
	if peak <= 0 {
		e.s.Violate("lag of %d events never visible in revocation_consumer_pending", len(jtis))
	}
	return e.checkBlacklisted(ctx, jtis)
}

// publishBacklog publishes n TokenRevoked events asynchronously and waits
// for every PubAck.
func (e *env) publishBacklog(ctx context.Context, n int) ([]string, error) {
	jtis := make([]string, 0, n)
	exp := time.Now().Add(10 * time.Minute)
	for i := range n {
		ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: exp, Reason: "chaos-backlog"}.Event(time.Now())
		body, err := events.Encode(ev)
		if err != nil {
			return nil, err
		}
		msg := &nats.Msg{Subject: ev.Subject(), Data: body}
		deadline := time.Now().Add(e.cfg.SettleMax)
		for {
			_, err := e.c.JS.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || time.Now().After(deadline) {
				return nil, fmt.Errorf("publish %d: %w", i, err)
			}
			pause(ctx, 5*time.Millisecond) // window full: let PubAcks come back
		}
		jtis = append(jtis, ev.JTI)
	}
	select {
	case <-e.c.JS.PublishAsyncComplete():
	case <-time.After(e.cfg.SettleMax):
		return nil, errors.New("backlog: PubAcks missing")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return jtis, nil
}

// checkBlacklisted checks every jti has its blacklist entry.
func (e *env) checkBlacklisted(ctx context.Context, jtis []string) error {
	missing := 0
	for i := 0; i < len(jtis); i += 5000 {
		pipe := e.c.RDB.Pipeline()
		var cmds []*redis.IntCmd
		for _, j := range jtis[i:min(i+5000, len(jtis))] {
			cmds = append(cmds, pipe.Exists(ctx, jwtx.BlacklistKey(j)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for _, c := range cmds {
			if c.Val() != 1 {
				missing++
			}
		}
	}
	if missing > 0 {
		e.s.Lost.Add(int64(missing))
		e.s.Violate("%d of %d backlog events not applied", missing, len(jtis))
	}
	return nil
}

// duplicatesOutOfOrder publishes version 5 then 4 for a user, and the same
// jti several times (the same event twice, another event with a later
// expiry, then one with an earlier expiry): versions are only raised,
// expiries only extended (never cut short by a later event), and nothing
// lives past the longest token lifetime.
func duplicatesOutOfOrder(ctx context.Context, e *env) error {
	pub := events.NewPublisher(e.c.JS)
	now := time.Now()
	user := uuid.NewString()
	if _, err := pub.Publish(ctx, events.UserTokensRevoked{UserID: user, Version: 5, ExpiresAt: now.Add(10 * time.Minute)}.Event(now)); err != nil {
		return err
	}
	ack, err := pub.Publish(ctx, events.UserTokensRevoked{UserID: user, Version: 4, ExpiresAt: now.Add(20 * time.Minute)}.Event(now))
	if err != nil {
		return err
	}
	if err := e.waitApplied(ctx, ack.Sequence); err != nil {
		return err
	}
	if v, _ := e.c.RDB.Get(ctx, jwtx.UserVersionKey(user)).Int64(); v != 5 {
		e.s.Violate("user version %d after versions 5 then 4, want 5", v)
	}
	if ttl := e.c.RDB.PTTL(ctx, jwtx.UserVersionKey(user)).Val(); ttl < revMaxTokenTTL+revLeeway-ttlSlack || ttl > revMaxTokenTTL+revLeeway+ttlSlack {
		e.s.Violate("user version TTL %s, want the longest token lifetime + leeway (%s)", ttl, revMaxTokenTTL+revLeeway)
	}

	owner, jti := uuid.NewString(), uuid.NewString()
	first := events.TokenRevoked{UserID: owner, JTI: jti, ExpiresAt: now.Add(5 * time.Minute)}.Event(now)
	a1, err := pub.Publish(ctx, first)
	if err != nil {
		return err
	}
	if err := e.waitApplied(ctx, a1.Sequence); err != nil {
		return err
	}
	ttl1 := e.c.RDB.PTTL(ctx, jwtx.BlacklistKey(jti)).Val()
	again, err := pub.Publish(ctx, first)
	if err != nil {
		return err
	}
	if !again.Duplicate {
		e.s.Violate("the same event published twice was stored twice (Nats-Msg-Id)")
	}
	later := events.TokenRevoked{UserID: owner, JTI: jti, ExpiresAt: now.Add(15 * time.Minute)}.Event(time.Now())
	if _, err := pub.Publish(ctx, later); err != nil { // another event for the same jti: extends
		return err
	}
	earlier := events.TokenRevoked{UserID: owner, JTI: jti, ExpiresAt: now.Add(time.Minute)}.Event(time.Now())
	a3, err := pub.Publish(ctx, earlier) // and one with an earlier expiry: must not cut it short
	if err != nil {
		return err
	}
	if err := e.waitApplied(ctx, a3.Sequence); err != nil {
		return err
	}
	want := time.Until(later.ExpiresAt) + revLeeway
	if ttl2 := e.c.RDB.PTTL(ctx, jwtx.BlacklistKey(jti)).Val(); ttl1 <= 0 || ttl2 < want-ttlSlack || ttl2 > want+ttlSlack {
		e.s.Violate("blacklist TTL went from %s to %s after a later then an earlier expiry, want %s", ttl1, ttl2, want)
	}
	e.s.Published.Add(5)
	return nil
}

// poisonMessages publishes garbage on every kind of subject: each must be
// terminated and counted, and the consumer move on to the next good event.
func poisonMessages(ctx context.Context, e *env) error {
	before := scrape(ctx, e.c.RevMetricsURL[0], "revocation_events_invalid_total")
	u := uuid.NewString()
	wrongUser, _ := events.Encode(events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Minute)}.Event(time.Now()))
	poisons := []struct{ subject, body string }{
		{events.SubjectTokenPrefix + u, "\x00\xff garbage"},
		{events.SubjectUserPrefix + u, "{}"},
		{events.SubjectTokenPrefix + u, string(wrongUser)},
		{events.SubjectUserPrefix + u, `{"schema_version":99,"type":"user.tokens_revoked","user_id":"` + u + `","version":3}`},
		{events.SubjectTokenPrefix + "not-a-uuid", `{"type":"token.revoked"}`},
		{"revocation.other." + u, "null"},
		{"revocation.x", "[]"},
		{events.SubjectUserPrefix + u, strings.Repeat("{", 15000)},
		{events.SubjectTokenPrefix + u, `{"type":"token.revoked","user_id":"` + u + `","jti":"x","expires_at":"never"}`},
		{events.SubjectUserPrefix + u, `{"type":"user.tokens_revoked","user_id":"` + u + `","version":-1}`},
	}
	for _, p := range poisons {
		if _, err := e.c.JS.PublishMsg(ctx, &nats.Msg{Subject: p.subject, Data: []byte(p.body)}); err != nil {
			return fmt.Errorf("publish poison on %s: %w", p.subject, err)
		}
	}
	good := events.TokenRevoked{UserID: u, JTI: uuid.NewString(), ExpiresAt: time.Now().Add(5 * time.Minute)}.Event(time.Now())
	ack, err := events.NewPublisher(e.c.JS).Publish(ctx, good)
	if err != nil {
		return err
	}
	if err := e.waitApplied(ctx, ack.Sequence); err != nil {
		return fmt.Errorf("consumer did not move past the poison: %w", err)
	}
	if err := e.checkBlacklisted(ctx, []string{good.JTI}); err != nil {
		return err
	}
	var after float64
	err = testkit.Poll(ctx, 10*time.Second, "every poison message counted", func() bool {
		after = scrape(ctx, e.c.RevMetricsURL[0], "revocation_events_invalid_total")
		return after-max(before, 0) >= float64(len(poisons))
	})
	e.s.Published.Add(int64(len(poisons) + 1))
	e.s.Note("%d poison messages, revocation_events_invalid_total +%v", len(poisons), after-max(before, 0))
	return err
}
