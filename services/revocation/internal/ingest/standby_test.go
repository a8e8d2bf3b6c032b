package ingest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// standbyTTL is the pinned TTL of the standby tests: the shortest allowed.
const standbyTTL = ingest.MinPinnedTTL

// instance is one revocation service: its own NATS connection, Redis
// client and metrics, on the shared durable consumer.
type instance struct {
	name   string
	in     *ingest.Ingester
	reg    *prometheus.Registry
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, name string, nt *testkit.NATS, rd *testkit.Redis) *instance {
	t.Helper()
	nc := nt.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	in := ingest.New(js, store.New(rd.Client(t), store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour}),
		ingest.Config{Durable: durable, BatchSize: 16, CheckInterval: 50 * time.Millisecond, PinnedTTL: standbyTTL, ReadyMaxPending: 1000, Stream: streamConfig},
		ingest.Options{Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	i := &instance{name: name, in: in, reg: reg, nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { i.done <- in.Run(ctx) }()
	t.Cleanup(func() { i.stop(t) })
	return i
}

// stop cancels Run and waits for it: a clean stop.
func (i *instance) stop(t *testing.T) {
	t.Helper()
	i.cancel()
	if i.done == nil {
		return
	}
	select {
	case err := <-i.done:
		if err != nil {
			t.Errorf("%s: Run: %v", i.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s: Run did not return", i.name)
	}
	i.done = nil
}

// kill closes the connection under the running instance, as a kill -9
// does (no drain, no unpin, no nak; what it held stays unacknowledged),
// and cancels what is left of it without waiting (a Redis write in flight
// may still land, as one sent before a kill -9 does).
func (i *instance) kill(t *testing.T) {
	t.Helper()
	i.nc.Close()
	i.cancel()
}

func (i *instance) applied(t *testing.T) float64 {
	t.Helper()
	return counterSum(t, i.reg, "revocation_events_applied_total")
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// stream publishes token revocations one after the other until stopped
// and remembers each one's key by sequence.
type stream struct {
	mu   sync.Mutex
	keys map[uint64]string
	last uint64
	stop chan struct{}
	done chan struct{}
}

func startStream(t *testing.T, js jetstream.JetStream, every time.Duration) *stream {
	t.Helper()
	s := &stream{keys: map[uint64]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	pub := events.NewPublisher(js)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			now := time.Now()
			ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour), Reason: "logout"}.Event(now)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ack, err := pub.Publish(ctx, ev)
			cancel()
			if err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			s.mu.Lock()
			s.keys[ack.Sequence] = store.KeyPrefixTokenBlacklist + ev.JTI
			s.last = max(s.last, ack.Sequence)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.end)
	return s
}

// end stops publishing and returns the last sequence.
func (s *stream) end() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *stream) lastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// upTo returns the keys of the events at or below seq.
func (s *stream) upTo(seq uint64) map[uint64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]string)
	for q, k := range s.keys {
		if q <= seq {
			out[q] = k
		}
	}
	return out
}

// checkContiguous polls the checkpoint until stopped and fails t when an
// event at or below it is not in Redis: the checkpoint must be a floor
// (every event up to it applied), not the highest sequence written. The
// checkpoint is read first; events and the checkpoint are written by one
// script, so a key missing afterwards was never written.
func checkContiguous(t *testing.T, rdb *redis.Client, s *stream) (stop func() int) {
	t.Helper()
	quit, done := make(chan struct{}), make(chan struct{})
	checks := 0
	go func() {
		defer close(done)
		ctx := context.Background()
		reported := false
		for {
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			cp, err := rdb.Get(ctx, store.KeyCheckpoint).Uint64()
			if err != nil {
				continue
			}
			for seq, key := range s.upTo(cp) {
				n, err := rdb.Exists(ctx, key).Result()
				if err == nil && n == 0 && !reported {
					t.Errorf("checkpoint %d but event %d (%s) not in Redis", cp, seq, key)
					reported = true
				}
			}
			checks++
		}
	}()
	return func() int {
		close(quit)
		<-done
		return checks
	}
}

// TestStandby: two instances on one durable consumer and one Redis, under
// a stream of events: only one writes, every event is applied and the
// checkpoint stays a floor; when the active one stops cleanly or dies, the
// other takes over within a bound and nothing is lost.
func TestStandby(t *testing.T) {
	for _, tc := range []struct {
		name  string
		end   func(*instance, *testing.T)
		held  bool // the active holds unacknowledged events when it ends
		bound time.Duration
	}{
		// A clean stop unpins: the standby takes over at the next message.
		{"Stop", (*instance).stop, false, time.Second},
		// A dead active keeps its pin for PinnedTTL after its last pull.
		{"Kill", (*instance).kill, true, standbyTTL + 2*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
			rdb, js := rd.Client(t), nt.JetStream(t)
			if _, err := events.EnsureStream(context.Background(), js, streamConfig); err != nil {
				t.Fatal(err)
			}
			a, b := startInstance(t, "a", nt, rd), startInstance(t, "b", nt, rd)
			// Both sync an empty Redis with the empty stream at start.
			testkit.Eventually(t, 10*time.Second, "both ready", func() bool { return a.in.Ready() == nil && b.in.Ready() == nil })
			s := startStream(t, js, 2*time.Millisecond)
			stopCheck := checkContiguous(t, rdb, s)

			testkit.Eventually(t, 15*time.Second, "200 events applied", func() bool {
				cp, err := rdb.Get(context.Background(), store.KeyCheckpoint).Uint64()
				return err == nil && cp >= 200
			})
			testkit.Eventually(t, 5*time.Second, "one instance active", func() bool { return a.in.Active() != b.in.Active() })
			active, standby := a, b
			if b.in.Active() {
				active, standby = b, a
			}
			if n := standby.applied(t); n != 0 {
				t.Errorf("standby %s applied %v events while %s was active", standby.name, n, active.name)
			}
			if got := gauge(t, active.reg, "revocation_active"); got != 1 {
				t.Errorf("active %s: revocation_active = %v, want 1", active.name, got)
			}
			if got := gauge(t, standby.reg, "revocation_active"); got != 0 {
				t.Errorf("standby %s: revocation_active = %v, want 0", standby.name, got)
			}
			if err := standby.in.Ready(); err != nil {
				t.Errorf("standby %s not ready: %v", standby.name, err)
			}
			before := active.applied(t)
			if tc.held {
				holdEvents(t, rdb, js)
			}

			start := time.Now()
			tc.end(active, t)
			if tc.held {
				if err := rdb.Do(context.Background(), "CLIENT", "UNPAUSE").Err(); err != nil {
					t.Fatal(err)
				}
			}
			stopped := time.Since(start)
			testkit.Eventually(t, 30*time.Second, "standby applies events", func() bool { return standby.applied(t) > 0 })
			took := time.Since(start)
			t.Logf("%s: %s applied %v events; %s took over %v after the end began (the end itself took %v)",
				tc.name, active.name, before, standby.name, took.Round(time.Millisecond), stopped.Round(time.Millisecond))
			if took > tc.bound {
				t.Errorf("takeover took %v, want at most %v", took, tc.bound)
			}
			testkit.Eventually(t, 5*time.Second, "standby reports active", standby.in.Active)

			testkit.Eventually(t, 5*time.Second, "100 more events", func() bool { return standby.applied(t) >= 100 })
			s.end()
			last := s.lastSeq()
			waitCheckpoint(t, rdb, last)
			checks := stopCheck()
			missing := 0
			for seq, key := range s.upTo(last) {
				if rdb.Exists(context.Background(), key).Val() != 1 {
					missing++
					if missing <= 3 {
						t.Errorf("event %d lost", seq)
					}
				}
			}
			t.Logf("%s: %d events, %d missing, %d contiguity checks, standby takeovers %v",
				tc.name, last, missing, checks, counterSum(t, standby.reg, "revocation_takeovers_total"))
		})
	}
}

// holdEvents makes the active instance hold delivered, unacknowledged
// events: Redis refuses writes for a while (CLIENT PAUSE WRITE; the caller
// unpauses) until more than one batch waits. Without the takeover's
// catch-up, they would reach Redis only after AckWait, and the checkpoint
// would pass them meanwhile.
func holdEvents(t *testing.T, rdb *redis.Client, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.Do(ctx, "CLIENT", "PAUSE", "10000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, events.StreamName, durable)
	if err != nil {
		t.Fatal(err)
	}
	var held int
	testkit.Eventually(t, 5*time.Second, "events held by the active instance", func() bool {
		info, err := cons.Info(ctx)
		if err == nil {
			held = info.NumAckPending
		}
		return held > 20
	})
	t.Logf("the active instance holds %d unacknowledged events", held)
}

// TestStandbyIdleKeepsPin: on an idle stream the active instance keeps
// its pin (it pulls more often than PinnedTTL), so the roles do not swap
// at every quiet moment.
func TestStandbyIdleKeepsPin(t *testing.T) {
	nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
	rdb, js := rd.Client(t), nt.JetStream(t)
	if _, err := events.EnsureStream(context.Background(), js, streamConfig); err != nil {
		t.Fatal(err)
	}
	a, b := startInstance(t, "a", nt, rd), startInstance(t, "b", nt, rd)
	testkit.Eventually(t, 10*time.Second, "both ready", func() bool { return a.in.Ready() == nil && b.in.Ready() == nil })
	p := publishTokens(t, js, 5)
	waitCheckpoint(t, rdb, p.last)
	testkit.Eventually(t, 5*time.Second, "one instance active", func() bool { return a.in.Active() != b.in.Active() })
	active, standby := a, b
	if b.in.Active() {
		active, standby = b, a
	}
	idle := time.Now()
	testkit.Eventually(t, 10*standbyTTL, "idle for 3 pinned TTLs", func() bool {
		if !active.in.Active() || standby.in.Active() {
			t.Fatalf("roles changed after %v idle", time.Since(idle))
		}
		return time.Since(idle) > 3*standbyTTL
	})
	p = publishTokens(t, js, 5)
	waitCheckpoint(t, rdb, p.last)
	if n := standby.applied(t); n != 0 {
		t.Errorf("standby %s applied %v events after an idle stream", standby.name, n)
	}
	if n := counterSum(t, active.reg, "revocation_takeovers_total"); n != 1 {
		t.Errorf("active %s took over %v times, want 1", active.name, n)
	}
}

// TestStandbyLateStart: an instance started while another is active
// stands by without syncing Redis (it would replay what the active one
// writes).
func TestStandbyLateStart(t *testing.T) {
	nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
	rdb, js := rd.Client(t), nt.JetStream(t)
	if _, err := events.EnsureStream(context.Background(), js, streamConfig); err != nil {
		t.Fatal(err)
	}
	a := startInstance(t, "a", nt, rd)
	s := startStream(t, js, time.Millisecond)
	testkit.Eventually(t, 10*time.Second, "a active", a.in.Active)
	b := startInstance(t, "b", nt, rd)
	testkit.Eventually(t, 10*time.Second, "b ready", func() bool { return b.in.Ready() == nil })
	from := s.lastSeq()
	testkit.Eventually(t, 10*time.Second, "200 more events", func() bool {
		cp, err := rdb.Get(context.Background(), store.KeyCheckpoint).Uint64()
		return err == nil && cp >= from+200
	})
	s.end()
	waitCheckpoint(t, rdb, s.lastSeq())
	if n := b.applied(t); n != 0 {
		t.Errorf("late standby applied %v events", n)
	}
	if b.in.Active() || !a.in.Active() {
		t.Errorf("roles: a active %v, b active %v; want a only", a.in.Active(), b.in.Active())
	}
}

// TestStandbyUpgrade: a durable consumer made by v0.4 (no priority group)
// is moved to the pinned policy by CreateOrUpdateConsumer.
func TestStandbyUpgrade(t *testing.T) {
	nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
	js := nt.JetStream(t)
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
		t.Fatal(err)
	}
	old := events.SubscribeConfig{Durable: durable}.ConsumerConfig()
	if _, err := js.CreateConsumer(ctx, events.StreamName, old); err != nil {
		t.Fatal(err)
	}
	publishTokens(t, js, 3)
	i := startInstance(t, "a", nt, rd)
	testkit.Eventually(t, 10*time.Second, "ready", func() bool { return i.in.Ready() == nil })
	cons, err := js.Consumer(ctx, events.StreamName, durable)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.PriorityPolicy != jetstream.PriorityPolicyPinned || len(cfg.PriorityGroups) != 1 || cfg.PriorityGroups[0] != ingest.PriorityGroup || cfg.PinnedTTL != standbyTTL {
		t.Fatalf("consumer after upgrade: policy %v, groups %q, pinned TTL %v; want pinned, [%q], %v",
			cfg.PriorityPolicy, cfg.PriorityGroups, cfg.PinnedTTL, ingest.PriorityGroup, standbyTTL)
	}
	p := publishTokens(t, js, 3)
	waitCheckpoint(t, rd.Client(t), p.last)

	// A v0.4 instance starting during the rollout puts the consumer back
	// to no group; the running instance configures it again.
	if _, err := js.UpdateConsumer(ctx, events.StreamName, old); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "consumer pinned again", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Config.PriorityPolicy == jetstream.PriorityPolicyPinned
	})
	p = publishTokens(t, js, 3)
	waitCheckpoint(t, rd.Client(t), p.last)
}

// TestStandbyLookupOnly: with LookupOnly, an administrator's consumer
// without the pinned group is refused (instances would split it); with it,
// the service runs.
func TestStandbyLookupOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pinned bool
	}{
		{"OK", true},
		{"ErrNotPinned", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
			js := nt.JetStream(t)
			ctx := context.Background()
			if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
				t.Fatal(err)
			}
			cc := events.SubscribeConfig{Durable: durable}.ConsumerConfig()
			if tc.pinned {
				cc.PriorityGroups = []string{ingest.PriorityGroup}
				cc.PriorityPolicy = jetstream.PriorityPolicyPinned
				cc.PinnedTTL = 3 * time.Second
			}
			if _, err := js.CreateConsumer(ctx, events.StreamName, cc); err != nil {
				t.Fatal(err)
			}
			in := ingest.New(js, store.New(rd.Client(t), store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour}),
				ingest.Config{Durable: durable, CheckInterval: 50 * time.Millisecond, Stream: streamConfig, LookupOnly: true},
				ingest.Options{})
			if !tc.pinned {
				runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				err := in.Run(runCtx)
				if !errors.Is(err, events.ErrConsumerMisconfigured) {
					t.Fatalf("Run = %v, want ErrConsumerMisconfigured", err)
				}
				return
			}
			runIngester(t, in)
			p := publishTokens(t, js, 3)
			waitCheckpoint(t, rd.Client(t), p.last)
			testkit.Eventually(t, 5*time.Second, "active", in.Active)
			cons, err := js.Consumer(ctx, events.StreamName, durable)
			if err != nil {
				t.Fatal(err)
			}
			if got := cons.CachedInfo().Config.PinnedTTL; got != 3*time.Second {
				t.Errorf("LookupOnly changed the pinned TTL to %v", got)
			}
		})
	}
}
