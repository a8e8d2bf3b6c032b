package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// One active instance, hot standbys. The durable consumer has one pinned
// priority group: JetStream delivers its messages to one client only, the
// pinned one, and holds every other instance's pull requests. An instance
// that stops pulling for PinnedTTL (killed, stopped, partitioned) loses the
// pin; the next message pins a waiting standby, which then takes over: it
// catches Redis up from the checkpoint before it writes anything, so that
// the events the old active held unacknowledged are applied at once, not
// after AckWait, and the checkpoint stays a contiguous floor. A clean stop
// unpins at once. Writes are idempotent, so the one thing pinning cannot
// prevent, a paused old active finishing the batch it already held, writes
// nothing the new active has not already written.

// PriorityGroup is the durable consumer's only priority group (pinned
// client policy). An administrator who creates the consumer
// (REVOCATION_MANAGE_STREAM=false) must give it this group.
const PriorityGroup = "revocation"

// DefaultPinnedTTL and MinPinnedTTL bound Config.PinnedTTL: a standby
// takes over at most PinnedTTL after the active instance's last pull
// request. The active pulls every PinnedTTL/2 (at least 1s, the shortest
// pull JetStream accepts) to keep its pin while the stream is idle.
const (
	DefaultPinnedTTL = 5 * time.Second
	MinPinnedTTL     = 2 * time.Second
)

// pinHeader carries the pinned client's id on every message JetStream
// delivers from a pinned priority group.
const pinHeader = "Nats-Pin-Id"

// role is what this instance knows about who is active.
type role struct {
	mu     sync.Mutex
	cons   jetstream.Consumer // the handle pulls go through; keeps the pin id
	own    string             // the pin id of the last message received
	ownAt  time.Time          // when own was set
	pinned string             // the consumer's pinned client at the last check
	known  bool               // pinned was read at least once
	warned bool               // the last check found no pinned policy
}

// consumer returns the handle openDurable pulls through, or nil.
func (r *role) consumer() jetstream.Consumer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cons
}

// keep returns the handle to pull through: the previous one while it is
// the same consumer (it carries the pin id, so that the active keeps its
// pin across a reopen), else fresh.
func (r *role) keep(fresh jetstream.Consumer) jetstream.Consumer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cons != nil && sameConsumer(r.cons.CachedInfo(), fresh.CachedInfo()) {
		return r.cons
	}
	r.cons = fresh
	return fresh
}

func sameConsumer(a, b *jetstream.ConsumerInfo) bool {
	return a != nil && b != nil && a.Name == b.Name && a.Created.Equal(b.Created) &&
		a.Config.PriorityPolicy == b.Config.PriorityPolicy
}

// Active reports whether this instance holds the durable consumer's pin:
// it is the one instance applying new events. A standby (false) is
// healthy and ready, and takes over when the active one goes away.
func (in *Ingester) Active() bool {
	r := &in.role
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.own != "" && r.known && r.pinned == r.own
}

// mayResync reports whether this instance may rebuild or replay Redis on
// the monitor's signal: when it is active, or when nobody is (an idle
// stream whose active instance died), not while another instance writes.
func (in *Ingester) mayResync() bool {
	r := &in.role
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.known || r.pinned == "" || r.pinned == r.own
}

// startupSync is the sync before following: skipped when another
// instance holds the pin (it keeps Redis in line; this one syncs when it
// takes over), so that a standby writes nothing.
func (in *Ingester) startupSync(ctx context.Context, cons jetstream.Consumer) error {
	if pinned, ok := pinnedClient(cons.CachedInfo()); ok && pinned != "" {
		in.log.Info("another instance is active; standing by", "durable", in.cfg.Durable)
		return nil
	}
	return in.sync(ctx)
}

// takeOver runs before a batch is written. A pin id that is not this
// instance's last means it has just become the active instance: Redis is
// caught up from its checkpoint first, unless the batch itself continues
// the checkpoint without a gap.
func (in *Ingester) takeOver(ctx context.Context, msgs []jetstream.Msg) error {
	pin := ""
	if h := msgs[0].Headers(); h != nil {
		pin = h.Get(pinHeader)
	}
	r := &in.role
	r.mu.Lock()
	fresh := pin != "" && pin != r.own
	if fresh {
		r.own, r.ownAt, r.pinned, r.known = pin, time.Now(), pin, true
	}
	r.mu.Unlock()
	if !fresh {
		return nil
	}
	in.m.active.Set(1)
	in.m.takeovers.Inc()
	cps, err := in.checkpoints(ctx)
	if err != nil {
		return err
	}
	cp, ok := store.Lowest(cps)
	if ok && continues(cp, msgs) {
		in.store.Adopt(cps)
		in.lastWritten.Store(max(in.lastWritten.Load(), cp))
		in.log.Info("active: this instance now applies the durable consumer's events", "checkpoint", cp)
		return nil
	}
	in.log.Info("active: this instance now applies the durable consumer's events; catching up first", "checkpoint", cp, "checkpoint_present", ok)
	if err := in.sync(ctx); err != nil {
		return err
	}
	in.phase.Store(int32(phaseFollowing))
	return nil
}

// continues reports whether msgs hold every sequence from cp+1 to their
// highest: writing them leaves no gap below the new checkpoint.
func continues(cp uint64, msgs []jetstream.Msg) bool {
	seen := make(map[uint64]bool, len(msgs))
	var hi uint64
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return false
		}
		seen[md.Sequence.Stream] = true
		hi = max(hi, md.Sequence.Stream)
	}
	for s := cp + 1; s <= hi; s++ {
		if !seen[s] {
			return false
		}
	}
	return true
}

// watchRole reads the consumer's pinned client every CheckInterval and
// keeps Active and revocation_active up to date. A consumer without the
// pinned policy (an older instance updated it) is signalled for reopening,
// which configures it again, unless it is the administrator's.
func (in *Ingester) watchRole(ctx context.Context, reopen chan<- struct{}) {
	t := time.NewTicker(in.cfg.CheckInterval)
	defer t.Stop()
	for {
		in.checkRole(ctx, reopen)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *Ingester) checkRole(ctx context.Context, reopen chan<- struct{}) {
	cons := in.role.consumer()
	if cons == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	asked := time.Now()
	info, err := cons.Info(cctx)
	if err != nil {
		in.log.Debug("consumer info for the pinned client", "err", err)
		return // checkPending reports a missing consumer
	}
	pinned, ok := pinnedClient(info)
	r := &in.role
	r.mu.Lock()
	if r.ownAt.After(asked) {
		r.mu.Unlock()
		return // taken over since: the answer is older than what takeOver knows
	}
	was := r.own != "" && r.known && r.pinned == r.own
	r.pinned, r.known = pinned, true
	now := r.own != "" && r.pinned == r.own
	warn := !ok && !r.warned
	r.warned = !ok
	r.mu.Unlock()
	switch {
	case warn && in.cfg.LookupOnly:
		in.log.Error("the durable consumer has no pinned priority group: instances split its events", "durable", in.cfg.Durable, "group", PriorityGroup)
	case warn:
		in.log.Warn("the durable consumer lost its pinned priority group (an older instance updated it?); configuring it again", "durable", in.cfg.Durable)
		notify(reopen)
	}
	if now {
		in.m.active.Set(1)
	} else {
		in.m.active.Set(0)
	}
	if was && !now {
		in.log.Warn("standby: this instance no longer holds the durable consumer's pin", "pinned", pinned)
	}
}

// handOver unpins this instance on a clean stop, after its messages went
// back, so that a standby takes over at once instead of after PinnedTTL.
// It needs the permission to publish on
// $JS.API.CONSUMER.UNPIN.REVOCATIONS.<durable>; without it the standby
// waits for PinnedTTL.
func (in *Ingester) handOver() {
	in.m.active.Set(0)
	in.role.mu.Lock()
	own := in.role.own
	in.role.mu.Unlock()
	cons := in.role.consumer()
	if own == "" || cons == nil || in.stream == nil || !in.js.Conn().IsConnected() {
		return // never active, or NATS is away (the pin expires by itself)
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.WriteTimeout)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		in.log.Debug("hand over: consumer info", "err", err)
		return
	}
	if pinned, _ := pinnedClient(info); pinned != own {
		return // another instance is active already
	}
	if err := in.stream.UnpinConsumer(ctx, in.cfg.Durable, PriorityGroup); err != nil {
		in.log.Info("could not unpin the durable consumer; a standby takes over after the pinned TTL", "err", err)
		return
	}
	in.log.Info("unpinned the durable consumer: a standby takes over")
}

// pinnedClient returns the consumer's pinned client id ("" when nobody is
// pinned); ok is false when the consumer has no pinned priority group.
func pinnedClient(info *jetstream.ConsumerInfo) (id string, ok bool) {
	if !isPinned(info) {
		return "", false
	}
	for _, g := range info.PriorityGroups {
		if g.Group == PriorityGroup {
			return g.PinnedClientID, true
		}
	}
	return "", true
}

func isPinned(info *jetstream.ConsumerInfo) bool {
	if info == nil || info.Config.PriorityPolicy != jetstream.PriorityPolicyPinned {
		return false
	}
	for _, g := range info.Config.PriorityGroups {
		if g == PriorityGroup {
			return true
		}
	}
	return false
}

// checkPinned is the LookupOnly check of an administrator's consumer: two
// instances on a consumer without the pinned group would split its events.
func checkPinned(cons jetstream.Consumer, durable string) error {
	if !isPinned(cons.CachedInfo()) {
		return fmt.Errorf("%w: %s: want priority policy pinned_client with priority group %q (one active instance, hot standbys)",
			events.ErrConsumerMisconfigured, durable, PriorityGroup)
	}
	return nil
}

// pullExpiry is how long one pull request waits: under half the
// consumer's pinned TTL, so that an idle active instance keeps its pin.
func pullExpiry(cons jetstream.Consumer) time.Duration {
	ttl := DefaultPinnedTTL
	if info := cons.CachedInfo(); info != nil && info.Config.PinnedTTL > 0 {
		ttl = info.Config.PinnedTTL
	}
	return min(max(ttl/2, time.Second), 30*time.Second)
}
