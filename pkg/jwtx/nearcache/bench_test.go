package nearcache_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
)

// benchStream is the production stream configuration.
var benchStream = events.StreamConfig{MinMaxAge: 24 * time.Hour, MaxAge: events.DefaultMaxAge}

// withStream returns a JetStream client of nt with the production stream
// created.
func withStream(tb testing.TB, nt *testkit.NATS) jetstream.JetStream {
	tb.Helper()
	js := nt.JetStream(tb)
	if _, err := events.EnsureStream(context.Background(), js, benchStream); err != nil {
		tb.Fatal(err)
	}
	return js
}

// revocationMsgs returns n TokenRevoked events as messages, with the jti
// and user of the last one.
func revocationMsgs(tb testing.TB, n int) (msgs []*nats.Msg, jti, user string) {
	tb.Helper()
	msgs = make([]*nats.Msg, n)
	for i := range msgs {
		var ev events.Event
		ev, jti, user = revokeEvent()
		data, err := events.Encode(ev)
		if err != nil {
			tb.Fatal(err)
		}
		msgs[i] = &nats.Msg{Subject: ev.Subject(), Data: data}
	}
	return msgs, jti, user
}

// benchCache starts a Cache on js, ready, closed with the benchmark.
func benchCache(b *testing.B, js jetstream.JetStream) *nearcache.Cache {
	b.Helper()
	c, err := nearcache.New(nearcache.Config{JetStream: js})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

// revoke publishes a TokenRevoked event for a fresh user and jti.
func revokeEvent() (events.Event, string, string) {
	user, jti := uuid.NewString(), uuid.NewString()
	return events.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: time.Now().Add(time.Hour), Reason: events.ReasonLogout, Actor: events.UserActor(user)}.Event(time.Now()), jti, user
}

// BenchmarkNearCacheValidate is a full Validate (signature, claims,
// revocation answered from memory) beside golang-jwt's ParseWithClaims
// alone with the same checks it offers, EdDSA and HS256, the same token
// every call with the verified-token cache off: the near-cache must add
// close to nothing to a plain parse.
func BenchmarkNearCacheValidate(b *testing.B) {
	nt := testkit.StartNATS(b)
	js := nt.JetStream(b)
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, benchStream); err != nil {
		b.Fatal(err)
	}
	pub := events.NewPublisher(js)
	for range 1000 { // some revocations in memory, none of them ours
		ev, _, _ := revokeEvent()
		if _, err := pub.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	cache := benchCache(b, js)
	k := jwtxtest.New(b)
	secret := []byte("0123456789abcdef0123456789abcdef-bench")
	ed := k.Token(b, uuid.NewString(), 0)
	hs := jwtxtest.ResignHS256(ed, "hs1", secret)
	cfg := k.Config(cache)
	cfg.HMACKeys = map[string][]byte{"hs1": secret}
	cfg.VerifiedCacheSize = -1
	// Another issuer's RS256 and ES256 tokens, keys in memory, beside this
	// project's: the validator chooses the issuer by iss.
	idp := jwtxtest.NewIssuer(b, nil)
	var extKeys []*jwtx.PublicKey
	for _, alg := range []string{jwtx.AlgRS256, jwtx.AlgES256} {
		pk, err := jwtx.NewPublicKey(idp.KeyID(alg), idp.PublicKey(alg), alg)
		if err != nil {
			b.Fatal(err)
		}
		extKeys = append(extKeys, pk)
	}
	cfg.Issuers = []jwtx.Issuer{{Issuer: idp.URL, Audience: k.Audience, PublicKeys: extKeys, Types: []string{"JWT"}}}
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	extClaims := idp.Claims(uuid.NewString(), k.Audience)
	extClaims["exp"] = time.Now().Add(time.Hour).Unix()
	rs := idp.Token(b, jwtx.AlgRS256, extClaims)
	es := idp.Token(b, jwtx.AlgES256, extClaims)
	for _, tc := range []struct {
		alg, tok string
		key      any
		iss      string
	}{
		{"EdDSA", ed, k.Signer.PublicKey(), k.Issuer}, {"HS256", hs, secret, k.Issuer},
		{"RS256", rs, idp.PublicKey(jwtx.AlgRS256), idp.URL}, {"ES256", es, idp.PublicKey(jwtx.AlgES256), idp.URL},
	} {
		b.Run(tc.alg+"/golang-jwt", func(b *testing.B) {
			p := jwt.NewParser(
				jwt.WithValidMethods([]string{tc.alg}),
				jwt.WithIssuer(tc.iss), jwt.WithAudience(k.Audience),
				jwt.WithLeeway(jwtx.DefaultLeeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
			)
			kf := func(*jwt.Token) (any, error) { return tc.key, nil }
			b.ReportAllocs()
			for b.Loop() {
				var c struct {
					jwt.RegisteredClaims
					Ver int64 `json:"ver"`
				}
				if _, err := p.ParseWithClaims(tc.tok, &c, kf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.alg+"/jwtx", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(ctx, tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// revokeRounds is how many revocations BenchmarkRevokeToReject times.
const revokeRounds = 500

// BenchmarkRevokeToReject times a revocation from the start of its publish
// (with its PubAck, NATS fsyncing every write) until all of 10
// near-caches, each on its own NATS connection, reject the token. The
// baseline is the same publish until 10 raw JetStream ordered consumers
// have the message.
func BenchmarkRevokeToReject(b *testing.B) {
	nt := testkit.StartNATS(b)
	ctx := context.Background()
	js := withStream(b, nt)
	pub := events.NewPublisher(js)
	const validators = 10
	b.Run("nearcache-10", func(b *testing.B) {
		caches := make([]*nearcache.Cache, validators)
		for i := range caches {
			caches[i] = benchCache(b, nt.JetStream(b))
		}
		var lat, fanout testkit.Latencies
		for range b.N {
			for range revokeRounds {
				ev, jti, user := revokeEvent()
				start := time.Now()
				ack, err := pub.Publish(ctx, ev)
				if err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				for _, c := range caches {
					wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					err := c.WaitApplied(wctx, ack.Sequence)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
				}
				end := time.Now()
				for i, c := range caches {
					if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: jti, UserID: user}); !ok || !st.TokenRevoked {
						b.Fatalf("validator %d applied the revocation but does not reject the token", i)
					}
				}
				lat.Add(end.Sub(start))
				fanout.Add(end.Sub(acked))
			}
		}
		lat.Report(b)
		reportFanout(b, &fanout)
	})
	b.Run("raw-jetstream-10", func(b *testing.B) {
		seen := make([]chan uint64, validators)
		for i := range seen {
			seen[i] = make(chan uint64, 1024)
			cjs := nt.JetStream(b)
			oc, err := cjs.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
			if err != nil {
				b.Fatal(err)
			}
			cc, err := oc.Consume(func(m jetstream.Msg) {
				if md, err := m.Metadata(); err == nil {
					seen[i] <- md.Sequence.Stream
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(cc.Stop)
		}
		var lat, fanout testkit.Latencies
		for range b.N {
			for range revokeRounds {
				ev, _, _ := revokeEvent()
				data, err := events.Encode(ev)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				ack, err := js.Publish(ctx, ev.Subject(), data)
				if err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				for i := range seen {
					waitSeq(b, seen[i], ack.Sequence)
				}
				end := time.Now()
				lat.Add(end.Sub(start))
				fanout.Add(end.Sub(acked))
			}
		}
		lat.Report(b)
		reportFanout(b, &fanout)
	})
}

// reportFanout reports the part after the PubAck (delivery to all 10) as
// ack-p50-µs and ack-p99-µs: the publish itself waits for an fsync.
func reportFanout(b *testing.B, l *testkit.Latencies) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(l.Percentile(50)), "ack-p50-µs")
	b.ReportMetric(us(l.Percentile(99)), "ack-p99-µs")
}

// waitSeq receives from ch until it delivers seq or later, failing the
// benchmark after 10 s.
func waitSeq(b *testing.B, ch <-chan uint64, seq uint64) {
	b.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case got := <-ch:
			if got >= seq {
				return
			}
		case <-timeout.C:
			b.Fatalf("a raw consumer did not receive sequence %d within 10 s", seq)
		}
	}
}

// coldStartRevocations is the size of BenchmarkColdStart's stream.
const coldStartRevocations = 1_000_000

// BenchmarkColdStart preloads a stream with 1,000,000 live token
// revocations (NATS without an fsync per write: testkit.StartNATSBulk;
// the measured part only reads) and measures a Cache from New to ready,
// and the heap it holds per revocation: the growth of the live heap (after
// a GC) from before New to ready, an upper bound (the embedded server's
// own growth counts too). The baseline is a raw ordered consumer reading every message.
func BenchmarkColdStart(b *testing.B) {
	nt := testkit.StartNATSBulk(b)
	ctx := context.Background()
	js := withStream(b, nt)
	const chunk = 100_000
	for done := 0; done < coldStartRevocations; done += chunk {
		msgs, _, _ := revocationMsgs(b, chunk)
		testkit.PublishAsync(b, js, msgs)
	}
	s, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		b.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq

	b.Run("nearcache", func(b *testing.B) {
		var perRevocation float64
		for range b.N {
			b.StopTimer()
			before := liveHeap()
			nc := nt.Connect(b)
			cjs, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c := startUnmanaged(b, cjs) // no cleanup may hold it
			b.StopTimer()
			if tokens, _, _ := c.Entries(); tokens != coldStartRevocations {
				b.Fatalf("ready with %d revocations, want %d", tokens, coldStartRevocations)
			}
			with := liveHeap()
			_ = c.Close()
			nc.Close()
			perRevocation = float64(with-min(before, with)) / coldStartRevocations
			b.Logf("live heap: %d MB before New, %d MB with the ready cache", before>>20, with>>20)
			b.StartTimer()
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s")
		b.ReportMetric(perRevocation, "B/revocation")
	})
	b.Run("raw-jetstream-replay", func(b *testing.B) {
		for range b.N {
			testkit.ReadAll(b, js, events.StreamName, last)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s")
	})
}

// startUnmanaged is benchCache without a cleanup: the caller closes it.
func startUnmanaged(b *testing.B, js jetstream.JetStream) *nearcache.Cache {
	b.Helper()
	c, err := nearcache.New(nearcache.Config{JetStream: js})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		_ = c.Close()
		b.Fatal(err)
	}
	return c
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLocalRevocationState is the per-validation lookup of a ready
// Cache holding 10,000 revocations.
func BenchmarkLocalRevocationState(b *testing.B) {
	nt := testkit.StartNATS(b)
	js := withStream(b, nt)
	msgs, jti, user := revocationMsgs(b, 10_000)
	testkit.PublishAsync(b, js, msgs)
	c := benchCache(b, nt.JetStream(b))
	b.ReportAllocs()
	for b.Loop() {
		if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: jti, UserID: user}); !ok || !st.TokenRevoked {
			b.Fatal("not answered from memory")
		}
	}
}
