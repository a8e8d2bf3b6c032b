package ingest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Sizes of the benchmarks: the 100,000-event burst and
// 1,000,000-revocation rebuild (EVENTJWT_BENCH_REBUILD_EVENTS=n measures
// another size).
const (
	ingestEvents  = 100_000
	rebuildEvents = 1_000_000
	durable       = "revocation"
)

// benchEnv is one NATS server with the production stream and one Redis.
type benchEnv struct {
	nt  *testkit.NATS
	rd  *testkit.Redis
	rdb *redis.Client
	js  jetstream.JetStream
}

// newBenchEnv starts both servers. NATS does not fsync each write
// (testkit.StartNATSBulk): preloading a million events one fsync at a
// time takes many minutes. What is measured reads the stream (the
// service catches up with ordered consumers) and writes Redis.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	return newBenchEnvOn(b, testkit.StartNATSBulk(b))
}

// newBenchEnvOn is newBenchEnv on the NATS server nt.
func newBenchEnvOn(b *testing.B, nt *testkit.NATS) *benchEnv {
	b.Helper()
	e := &benchEnv{nt: nt, rd: testkit.StartRedis(b)}
	e.rdb = e.rd.Client(b)
	nc := e.nt.Connect(b)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	e.js = js
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
		b.Fatal(err)
	}
	return e
}

// streamConfig is what the service asks for by default.
var streamConfig = events.StreamConfig{MinMaxAge: 24 * time.Hour, MaxAge: events.DefaultMaxAge}

// tokenBodies returns n encoded TokenRevoked events, as the auth service
// publishes them, with their ids and subjects.
func tokenBodies(b *testing.B, n int) []*nats.Msg {
	b.Helper()
	now := time.Now()
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		ev := events.TokenRevoked{
			UserID:    uuid.NewString(),
			JTI:       uuid.NewString(),
			ExpiresAt: now.Add(time.Hour),
			Reason:    "logout",
		}.Event(now)
		body, err := events.Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = &nats.Msg{Subject: ev.Subject(), Data: body, Header: nats.Header{jetstream.MsgIDHeader: []string{ev.ID}}}
	}
	return msgs
}

// publish stores msgs (testkit.PublishAsync) and returns the stream's
// last sequence.
func (e *benchEnv) publish(b *testing.B, msgs []*nats.Msg) uint64 {
	b.Helper()
	testkit.PublishAsync(b, e.js, msgs)
	return e.lastSeq(b)
}

func (e *benchEnv) lastSeq(b *testing.B) uint64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, events.StreamName)
	if err != nil {
		b.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// ingester is one running ingest.Ingester.
type ingester struct {
	cancel context.CancelFunc
	done   chan error
}

// startIngester runs the ingester as the service does (its defaults).
func (e *benchEnv) startIngester(b *testing.B) *ingester {
	b.Helper()
	st := store.New(e.rdb, store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := ingest.New(e.js, st, ingest.Config{Durable: durable, Stream: streamConfig}, ingest.Options{Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	r := &ingester{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }()
	return r
}

func (r *ingester) stop(b *testing.B) {
	b.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		b.Fatalf("ingester: %v", err)
	}
}

// waitCheckpoint polls Redis until the checkpoint is at least seq.
func (e *benchEnv) waitCheckpoint(b *testing.B, seq uint64, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := e.rdb.Get(context.Background(), store.KeyCheckpoint).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			b.Fatal(err)
		}
		if cp, _ := strconv.ParseUint(v, 10, 64); err == nil && cp >= seq {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("checkpoint %q did not reach %d within %s", v, seq, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkIngest measures a burst of 100,000 token revocations already in
// the stream when the service starts (Redis in sync with the stream before
// the burst): the clock runs from the ingester's start until Redis's
// checkpoint reaches the last one. Publishing is untimed. Baseline: a plain
// durable pull consumer fetching and acking the same number of messages.
func BenchmarkIngest(b *testing.B) {
	b.Run("revocation-service", func(b *testing.B) {
		e := newBenchEnv(b)
		ctx := context.Background()
		// Redis in sync with the (empty) stream: no rebuild.
		if err := e.rdb.Set(ctx, store.KeyCheckpoint, 0, 0).Err(); err != nil {
			b.Fatal(err)
		}
		var mem redisMemory
		var cpu, self float64
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			last := e.publish(b, tokenBodies(b, ingestEvents))
			mem.before(b, e)
			cpu0, self0 := e.redisCPU(b), processCPU(b)
			stopProfile := startProfile(b, "ingest")
			b.StartTimer()
			in := e.startIngester(b)
			e.waitCheckpoint(b, last, time.Minute)
			b.StopTimer()
			stopProfile()
			cpu += e.redisCPU(b) - cpu0
			self += processCPU(b) - self0
			in.stop(b)
			mem.after(b, e)
		}
		b.ReportMetric(float64(ingestEvents*b.N)/b.Elapsed().Seconds(), "revocations/s")
		b.ReportMetric(cpu/float64(b.N), "redis-cpu-s")
		b.ReportMetric(self/float64(b.N), "process-cpu-s")
		mem.report(b, e)
	})
	b.Run("raw-jetstream-consume", func(b *testing.B) {
		e := newBenchEnv(b)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			first := e.lastSeq(b) + 1
			last := e.publish(b, tokenBodies(b, ingestEvents))
			name := "raw" + strconv.Itoa(i)
			cons, err := e.js.CreateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
				Durable:       name,
				AckPolicy:     jetstream.AckExplicitPolicy,
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:   first,
				MaxAckPending: 1024,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			consumeAll(b, cons, last)
			b.StopTimer()
			if err := e.js.DeleteConsumer(ctx, events.StreamName, name); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(ingestEvents*b.N)/b.Elapsed().Seconds(), "revocations/s")
	})
}

// consumeAll pulls and acks messages until the one with sequence last.
func consumeAll(b *testing.B, cons jetstream.Consumer, last uint64) {
	b.Helper()
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Ack(); err != nil {
			b.Fatal(err)
		}
		md, err := m.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		if md.Sequence.Stream >= last {
			return
		}
	}
}

// rebuildSize is the number of events BenchmarkRebuild replays.
func rebuildSize(b *testing.B) int {
	b.Helper()
	if v := os.Getenv("EVENTJWT_BENCH_REBUILD_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("EVENTJWT_BENCH_REBUILD_EVENTS=%q: want a positive integer", v)
		}
		return n
	}
	return rebuildEvents
}

// BenchmarkRebuild measures the rebuild of an empty Redis from a stream of
// 1,000,000 live token revocations: from the start of the service until it
// writes the checkpoint. Baseline: an ordered consumer reading them all.
func BenchmarkRebuild(b *testing.B) {
	n := rebuildSize(b)
	// One stream for both cases, published once (untimed).
	e := newBenchEnv(b)
	start := time.Now()
	const chunk = 100_000
	var last uint64
	for done := 0; done < n; done += chunk {
		last = e.publish(b, tokenBodies(b, min(chunk, n-done)))
	}
	b.Logf("published %d events in %s", n, time.Since(start).Round(time.Millisecond))

	b.Run("revocation-service", func(b *testing.B) {
		ctx := context.Background()
		var cpu, self float64
		for range b.N {
			b.StopTimer()
			if err := e.rdb.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			cpu0, self0 := e.redisCPU(b), processCPU(b)
			stopProfile := startProfile(b, "rebuild")
			b.StartTimer()
			in := e.startIngester(b)
			e.waitCheckpoint(b, last, 5*time.Minute)
			b.StopTimer()
			stopProfile()
			cpu += e.redisCPU(b) - cpu0
			self += processCPU(b) - self0
			in.stop(b)
			_ = e.js.DeleteConsumer(ctx, events.StreamName, durable)
			b.StartTimer()
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s")
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "revocations/s")
		b.ReportMetric(cpu/float64(b.N), "redis-cpu-s")
		b.ReportMetric(self/float64(b.N), "process-cpu-s")
	})
	b.Run("raw-jetstream-replay", func(b *testing.B) {
		for range b.N {
			testkit.ReadAll(b, e.js, events.StreamName, last)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s")
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "revocations/s")
	})
}

// BenchmarkPublish measures one synchronous publish with its PubAck, NATS
// fsyncing every write as in production (testkit.StartNATS):
// events.Publisher.Publish (encoding included) beside a raw js.Publish of
// the same bytes. The raw figure is the baseline of the logout latency.
func BenchmarkPublish(b *testing.B) {
	e := newBenchEnvOn(b, testkit.StartNATS(b))
	now := time.Now()
	newEvent := func() events.Event {
		return events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour), Reason: "logout"}.Event(now)
	}
	b.Run("events-publisher", func(b *testing.B) {
		pub := events.NewPublisher(e.js)
		evs := make([]events.Event, b.N)
		for i := range evs {
			evs[i] = newEvent()
		}
		var lat testkit.Latencies
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if _, err := pub.Publish(ctx, evs[i]); err != nil {
				b.Fatal(err)
			}
			lat.Add(time.Since(t0))
		}
		b.StopTimer()
		lat.Report(b)
	})
	b.Run("raw-jetstream", func(b *testing.B) {
		msgs := make([]*nats.Msg, b.N)
		for i := range msgs {
			ev := newEvent()
			body, err := events.Encode(ev)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = &nats.Msg{Subject: ev.Subject(), Data: body, Header: nats.Header{jetstream.MsgIDHeader: []string{ev.ID}}}
		}
		var lat testkit.Latencies
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if _, err := e.js.PublishMsg(ctx, msgs[i]); err != nil {
				b.Fatal(err)
			}
			lat.Add(time.Since(t0))
		}
		b.StopTimer()
		lat.Report(b)
	})
}

// profileEnv names a file that receives a CPU profile of the timed part
// of the revocation-service benchmarks only (go test -cpuprofile also
// covers the untimed publishing): EVENTJWT_BENCH_CPUPROFILE=/tmp/cpu
// writes /tmp/cpu.ingest and /tmp/cpu.rebuild, of their last iteration.
const profileEnv = "EVENTJWT_BENCH_CPUPROFILE"

// startProfile starts that profile, when asked for, and returns what
// stops it.
func startProfile(b *testing.B, name string) (stop func()) {
	b.Helper()
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("%s: %v (not with -cpuprofile)", profileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// redisInfo returns the numeric field of the INFO section.
func (e *benchEnv) redisInfo(b *testing.B, section, field string) float64 {
	b.Helper()
	info, err := e.rdb.Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO %s %s: %q: %v", section, field, v, err)
			}
			return f
		}
	}
	b.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// redisCPU returns the CPU seconds redis-server has used (its main
// thread and the others, user and system).
func (e *benchEnv) redisCPU(b *testing.B) float64 {
	b.Helper()
	return e.redisInfo(b, "cpu", "used_cpu_user") + e.redisInfo(b, "cpu", "used_cpu_sys")
}

// processCPU returns the CPU seconds this process has used: the
// ingester, and the embedded NATS server that delivers to it.
func processCPU(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// redisMemory adds up what the keys the ingester writes cost in Redis:
// INFO memory's used_memory and DBSIZE before and after each burst.
type redisMemory struct {
	bytes, keys float64
	used0, n0   float64
}

func (m *redisMemory) before(b *testing.B, e *benchEnv) {
	b.Helper()
	m.used0, m.n0 = e.redisInfo(b, "memory", "used_memory"), e.dbSize(b)
}

func (m *redisMemory) after(b *testing.B, e *benchEnv) {
	b.Helper()
	m.bytes += e.redisInfo(b, "memory", "used_memory") - m.used0
	m.keys += e.dbSize(b) - m.n0
}

// report reports redis-bytes/revocation, used_memory's growth per key
// written (the keyspace's share: key, value, expiry, hash tables), and
// redis-key-bytes, MEMORY USAGE of one blacklist key (the key and value
// objects alone).
func (m *redisMemory) report(b *testing.B, e *benchEnv) {
	b.Helper()
	if m.keys < ingestEvents*float64(b.N) {
		b.Fatalf("%v keys written, want %d", m.keys, ingestEvents*b.N)
	}
	b.ReportMetric(m.bytes/m.keys, "redis-bytes/revocation")
	ctx := context.Background()
	key, err := e.rdb.RandomKey(ctx).Result()
	if err != nil {
		b.Fatal(err)
	}
	for !strings.HasPrefix(key, store.KeyPrefixTokenBlacklist) {
		if key, err = e.rdb.RandomKey(ctx).Result(); err != nil {
			b.Fatal(err)
		}
	}
	n, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n), "redis-key-bytes")
}

func (e *benchEnv) dbSize(b *testing.B) float64 {
	b.Helper()
	n, err := e.rdb.DBSize(context.Background()).Result()
	if err != nil {
		b.Fatal(err)
	}
	return float64(n)
}
