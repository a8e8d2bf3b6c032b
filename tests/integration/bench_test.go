package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// Load of BenchmarkLogout: logouts per second, for loadDuration.
const (
	logoutRate   = 1000
	loadDuration = 5 * time.Second
)

// BenchmarkLogout measures POST /v1/auth/logout answered 204 (the
// revocation is enforced: in Redis) under an open-loop load of 1,000
// logouts/s against the real auth and revocation binaries, a real
// redis-server and embedded NATS with sync_interval always (every message
// fsynced before its ack). Its baseline is services/revocation's
// BenchmarkPublish/raw-jetstream: one raw JetStream publish of such an
// event with its PubAck, on a server fsyncing every write. (A raw open-loop
// publisher at 1,000/s from this process saturated at about 920/s, its
// latency growing without bound, so it could not serve as a baseline.)
// Latency is measured from each request's
// scheduled start, so a stalled server cannot hide its queue (no
// coordinated omission).
func BenchmarkLogout(b *testing.B) {
	priv, keyFile := signingKeyFile(b)
	s := newStack(b, stackOpts{logLevel: "warn", authEnv: []string{"AUTH_SIGNING_KEY_FILE=" + keyFile}})
	signer, err := jwtx.NewSigner(jwtx.SignerConfig{Key: priv, Issuer: "http://auth.test", Audience: "api", TTL: s.TokenTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("auth-logout", func(b *testing.B) { logoutLoad(b, s.AuthURL, signer, logoutRate) })
}

// logoutLoad runs b.N rounds of logouts at rate per second for
// loadDuration against the auth service at authURL, open loop (openLoop),
// each logout of a fresh token signed by signer; anything but 204 fails
// the benchmark.
func logoutLoad(b *testing.B, authURL string, signer *jwtx.Signer, rate int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	n := int(int64(rate) * int64(loadDuration) / int64(time.Second))
	for range b.N {
		b.StopTimer()
		tokens := make([]string, n)
		for i := range tokens {
			var err error
			if tokens[i], _, err = signer.Issue(uuid.NewString(), 0); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		openLoop(b, rate, n, func(ctx context.Context, i int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/v1/auth/logout", nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tokens[i])
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("logout answered %d, want 204", resp.StatusCode)
			}
			return nil
		})
	}
}

// openLoop starts fn n times at rate per second, each call in its own
// goroutine at its scheduled time (start + i/rate, absolute: a late loop
// starts the calls it owes at once and catches up, it never shifts the
// schedule), and reports the latency distribution measured from the
// scheduled times, the offered rate and the achieved rate (calls
// completed per second of the run). Any error fails the benchmark.
func openLoop(b *testing.B, rate, n int, fn func(ctx context.Context, i int) error) {
	b.Helper()
	var (
		lat    testkit.Latencies
		wg     sync.WaitGroup
		failed atomic.Int64
		first  atomic.Value
	)
	interval := time.Second / time.Duration(rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			timer.Reset(d) // pacing to the schedule, not synchronisation
			<-timer.C
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := fn(ctx, i); err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
				return
			}
			lat.Add(time.Since(at))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d calls failed; first: %v", f, n, first.Load())
	}
	lat.Report(b)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(rate), "offered-ops/s")
}

// BenchmarkOpenLoopNoop is the load generator alone: openLoop at 1,000
// calls/s against an HTTP handler that does nothing, on loopback. Its p99
// is what the generator itself adds to every figure it measures.
func BenchmarkOpenLoopNoop(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	n := int(logoutRate * loadDuration / time.Second)
	b.Run("noop-1000", func(b *testing.B) {
		for range b.N {
			openLoop(b, logoutRate, n, func(ctx context.Context, _ int) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				return nil
			})
		}
	})
}
