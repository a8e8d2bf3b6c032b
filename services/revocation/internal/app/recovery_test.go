package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// someEvents returns n revocations, one user event in four.
func someEvents(n int) []events.Event {
	now := time.Now().UTC()
	evs := make([]events.Event, n)
	for i := range evs {
		if i%4 == 3 {
			evs[i] = userEvent(now, uuid.NewString(), int64(i+1), now.Add(time.Hour))
		} else {
			evs[i] = tokenEvent(now, now.Add(time.Hour))
		}
	}
	return evs
}

// publishAll publishes evs in order and returns the last sequence.
func (e *env) publishAll(t *testing.T, evs []events.Event) uint64 {
	t.Helper()
	var last uint64
	for _, ev := range evs {
		last = e.publish(t, ev)
	}
	return last
}

// publishAsync publishes evs without waiting for each PubAck in turn and
// returns the last sequence.
func (e *env) publishAsync(t *testing.T, evs []events.Event) uint64 {
	t.Helper()
	futures := make([]jetstream.PubAckFuture, len(evs))
	for i, ev := range evs {
		body, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		futures[i], err = e.js.PublishMsgAsync(&nats.Msg{Subject: ev.Subject(), Data: body, Header: nats.Header{}},
			jetstream.WithMsgID(ev.ID))
		if err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			t.Fatalf("publish: %v", err)
		case <-time.After(waitFor):
			t.Fatal("no PubAck")
		}
	}
	return last
}

// missing returns the keys of evs absent from Redis.
func (e *env) missing(t *testing.T, evs []events.Event) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		n, err := e.rdb.Exists(context.Background(), key(ev)).Result()
		if err != nil || n != 1 {
			out = append(out, key(ev))
		}
	}
	return out
}

// waitAll waits until every event's key exists and the checkpoint reaches
// last.
func (e *env) waitAll(t *testing.T, evs []events.Event, last uint64) {
	t.Helper()
	testkit.Eventually(t, waitFor, fmt.Sprintf("all %d revocations in Redis", len(evs)), func() bool {
		return len(e.missing(t, evs)) == 0
	})
	e.waitCheckpoint(t, last)
}

func TestRebuildAfterRedisRestartedEmpty(t *testing.T) {
	e := newEnv(t)
	svc := e.start(t)
	before := someEvents(20)
	e.waitAll(t, before, e.publishAll(t, before))

	e.rd.Restart(t) // comes back empty
	// Published while Redis is empty: the durable consumer must not write
	// a checkpoint that claims what the rebuild has not restored yet.
	after := someEvents(5)
	last := e.publishAll(t, after)

	ctx := context.Background()
	testkit.Eventually(t, waitFor, "checkpoint back after the rebuild", func() bool {
		// One transaction: whenever a checkpoint is visible, so is every
		// revocation published before Redis was emptied.
		cmds, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, store.KeyCheckpoint)
			for _, ev := range before {
				p.Exists(ctx, key(ev))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return false
		}
		cp, err := cmds[0].(*redis.StringCmd).Result()
		if err != nil {
			return false
		}
		for i, c := range cmds[1:] {
			if c.(*redis.IntCmd).Val() != 1 {
				t.Fatalf("checkpoint %s visible while %s is missing", cp, key(before[i]))
			}
		}
		return true
	})
	e.waitAll(t, append(before, after...), last)
	if n := svc.metric(t, "revocation_rebuilds_total"); n < 1 {
		t.Errorf("revocation_rebuilds_total = %v", n)
	}
	testkit.Eventually(t, waitFor, "rebuild marker removed", func() bool {
		n, err := e.rdb.Exists(ctx, store.KeyRebuildMarker).Result()
		return err == nil && n == 0
	})
	svc.waitReady(t)
}

func TestRebuildStartsOverWhenFlushedMidway(t *testing.T) {
	e := newEnv(t)
	evs := someEvents(400)
	last := e.publishAsync(t, evs)
	svc := e.start(t, "REVOCATION_BATCH_SIZE=1") // a slow rebuild at start

	ctx := context.Background()
	testkit.Eventually(t, waitFor, "rebuild under way", func() bool {
		n, err := e.rdb.Exists(ctx, store.KeyRebuildMarker).Result()
		return err == nil && n == 1
	})
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitFor, "checkpoint back", func() bool {
		cp, ok := e.checkpoint(t)
		if !ok {
			return false
		}
		if m := e.missing(t, evs); len(m) > 0 {
			t.Fatalf("checkpoint %d visible while %d revocations are missing, e.g. %s", cp, len(m), m[0])
		}
		return true
	})
	e.waitCheckpoint(t, last)
	if n := svc.metric(t, "revocation_rebuilds_total"); n < 2 {
		t.Errorf("revocation_rebuilds_total = %v, want a second rebuild", n)
	}
}

func TestNothingLostWhenStopped(t *testing.T) {
	t.Run("CancelMidStream", func(t *testing.T) {
		e := newEnv(t)
		svc := e.start(t)
		evs := someEvents(150)
		published := make(chan error, 1)
		var last uint64
		go func() {
			for _, ev := range evs {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ack, err := e.pub.Publish(ctx, ev)
				cancel()
				if err != nil {
					published <- err
					return
				}
				last = ack.Sequence
			}
			published <- nil
		}()
		e.waitCheckpoint(t, 20)
		if err := svc.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := <-published; err != nil {
			t.Fatalf("publish: %v", err)
		}
		e.start(t)
		e.waitAll(t, evs, last)
		testkit.Eventually(t, waitFor, "consumer pending drains to 0", func() bool {
			return e.consumerPending(t) == 0
		})
	})
	t.Run("RedisDownWhilePublishing", func(t *testing.T) {
		e := newEnv(t)
		svc := e.start(t)
		before := someEvents(5)
		e.waitAll(t, before, e.publishAll(t, before))
		e.rd.Kill(t)
		during := someEvents(10)
		last := e.publishAll(t, during)
		testkit.Eventually(t, waitFor, "redis errors counted", func() bool {
			return svc.metric(t, "revocation_redis_errors_total") > 0
		})
		start := time.Now()
		if err := svc.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("stop took %s while Redis was down", d)
		}
		e.rd.Restart(t) // empty: the next run rebuilds
		e.start(t)
		e.waitAll(t, append(before, during...), last)
	})
	t.Run("RedisHungWhilePublishing", func(t *testing.T) {
		e := newEnv(t)
		svc := e.start(t)
		before := someEvents(5)
		e.waitAll(t, before, e.publishAll(t, before))
		e.rd.Pause(t)
		during := someEvents(10)
		last := e.publishAll(t, during)
		testkit.Eventually(t, waitFor, "redis errors counted", func() bool {
			return svc.metric(t, "revocation_redis_errors_total") > 0
		})
		if err := svc.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		e.rd.Resume(t) // data kept: the next run catches up from the checkpoint
		e.start(t)
		e.waitAll(t, append(before, during...), last)
	})
}

func TestCatchUpAfterCheckpointRegressed(t *testing.T) {
	// Redis went back in time (failover to a replica that missed the last
	// writes): the checkpoint is lower than what the service wrote, and the
	// revocations after it are gone.
	regress := func(t *testing.T, e *env, to uint64, lost []events.Event) {
		t.Helper()
		ctx := context.Background()
		_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, store.KeyCheckpoint, to, 0)
			for _, ev := range lost {
				p.Del(ctx, key(ev))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("WhileRunning", func(t *testing.T) {
		e := newEnv(t)
		e.start(t)
		evs := someEvents(10)
		var seqs []uint64
		for _, ev := range evs {
			seqs = append(seqs, e.publish(t, ev))
		}
		e.waitAll(t, evs, seqs[9])
		regress(t, e, seqs[4], evs[5:])
		next := someEvents(1)
		e.waitAll(t, append(evs, next...), e.publishAll(t, next))
	})
	t.Run("WhileIdle", func(t *testing.T) {
		e := newEnv(t)
		e.start(t)
		evs := someEvents(10)
		var seqs []uint64
		for _, ev := range evs {
			seqs = append(seqs, e.publish(t, ev))
		}
		e.waitAll(t, evs, seqs[9])
		regress(t, e, seqs[4], evs[5:])
		e.waitAll(t, evs, seqs[9]) // noticed by the periodic check
	})
	t.Run("AtStart", func(t *testing.T) {
		e := newEnv(t)
		svc := e.start(t)
		evs := someEvents(10)
		var seqs []uint64
		for _, ev := range evs {
			seqs = append(seqs, e.publish(t, ev))
		}
		e.waitAll(t, evs, seqs[9])
		if err := svc.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		regress(t, e, seqs[4], evs[5:])
		e.start(t)
		e.waitAll(t, evs, seqs[9])
	})
}

func TestNATSRestart(t *testing.T) {
	e := newEnv(t)
	svc := e.start(t)
	before := someEvents(5)
	e.waitAll(t, before, e.publishAll(t, before))

	e.nt.Shutdown()
	testkit.Eventually(t, waitFor, "not ready while NATS is down", func() bool {
		code, _, body := svc.do(t, http.MethodGet, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(string(body), "nats")
	})
	e.nt.Restart(t) // same port and store directory
	after := someEvents(5)
	last := e.publishAll(t, after)
	e.waitAll(t, append(before, after...), last)
	svc.waitReady(t)
}

func TestDurableConsumerDeletedIsRecreated(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	before := someEvents(3)
	e.waitAll(t, before, e.publishAll(t, before))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.js.DeleteConsumer(ctx, events.StreamName, "revocation"); err != nil {
		t.Fatal(err)
	}
	after := someEvents(3)
	e.waitAll(t, append(before, after...), e.publishAll(t, after))
}
