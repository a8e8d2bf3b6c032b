package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// Load of BenchmarkLogout: logouts per second, for loadDuration.
const (
	logoutRate   = 1000
	loadDuration = 5 * time.Second
)

// The search of BenchmarkLogout/highest-rate: the rates it steps through,
// the p99 each must meet, and the share of the offered rate it must
// achieve.
var (
	stepRates   = []int{250, 500, 1000, 1500, 2000}
	stepP99     = 10 * time.Millisecond
	stepAchieve = 0.97
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
// Latency is measured from each request's scheduled start, so a stalled
// server cannot hide its queue (no coordinated omission).
//
// BenchmarkLogout/highest-rate then steps the offered rate through
// stepRates, loadDuration each, on the same stack once it is idle
// (settle), and reports as
// logouts/s the highest rate at which every logout answered 204, the p99
// stayed within stepP99 and the achieved rate within stepAchieve of the
// offered one (0 when none did); it stops at the first rate that fails.
func BenchmarkLogout(b *testing.B) {
	priv, keyFile := signingKeyFile(b)
	s := newStack(b, stackOpts{logLevel: "warn", authEnv: []string{"AUTH_SIGNING_KEY_FILE=" + keyFile}})
	signer, err := jwtx.NewSigner(jwtx.SignerConfig{Key: priv, Issuer: "http://auth.test", Audience: "api", TTL: s.TokenTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("auth-logout", func(b *testing.B) { logoutLoad(b, s.AuthURL, signer, logoutRate) })
	b.Run("highest-rate", func(b *testing.B) {
		client := loadClient()
		warmConns(b, client, s.AuthURL+"/healthz", 64)
		for range b.N {
			best := 0
			for _, rate := range stepRates {
				b.StopTimer()
				n := loadCalls(rate)
				tokens := issueTokens(b, signer, n)
				settle(b, logoutCall(client, s.AuthURL, issueTokens(b, signer, settleProbes)))
				b.StartTimer()
				r := runOpenLoop(rate, n, logoutCall(client, s.AuthURL, tokens))
				p99 := r.Lat.Percentile(99)
				ok := r.Failed == 0 && p99 <= stepP99 && r.Achieved() >= stepAchieve*float64(rate)
				b.Logf("%d logouts/s offered: achieved %.0f/s, p50 %v, p99 %v, max %v, failed %d (first: %v), generator late p99 %v: within target %t",
					rate, r.Achieved(), r.Lat.Percentile(50), p99, r.Lat.Percentile(100), r.Failed, r.FirstErr, r.Late.Percentile(99), ok)
				if !ok {
					break
				}
				best = rate
			}
			b.ReportMetric(float64(best), "logouts/s")
		}
	})
}

// settleProbes bounds settle's probes; settleLatency is the answer time
// that counts as idle.
const (
	settleProbes  = 300
	settleLatency = 20 * time.Millisecond
)

// settle waits until the stack is idle before a step: a step after one
// that overloaded it would otherwise measure the previous step's queue (a
// stalled stream still stores the publishes its callers gave up on). It
// calls probe (one logout at a time, 100 ms apart) until one answers 204
// within settleLatency, and logs it when none does within settleProbes.
func settle(b *testing.B, probe func(ctx context.Context, i int) error) {
	b.Helper()
	for i := range settleProbes {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		start := time.Now()
		err := probe(ctx, i)
		cancel()
		if err == nil && time.Since(start) <= settleLatency {
			return
		}
		time.Sleep(100 * time.Millisecond) // pacing the probes, not synchronisation
	}
	b.Logf("the stack did not settle: no probe logout answered 204 within %v", settleLatency)
}

// loadCalls is the number of calls of a load at rate for loadDuration.
func loadCalls(rate int) int { return int(int64(rate) * int64(loadDuration) / int64(time.Second)) }

// issueTokens signs n fresh access tokens, each of a new user id.
func issueTokens(b *testing.B, signer *jwtx.Signer, n int) []string {
	b.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		var err error
		if tokens[i], _, err = signer.Issue(uuid.NewString(), 0); err != nil {
			b.Fatal(err)
		}
	}
	return tokens
}

// logoutCall returns the call of a logout load: call i logs tokens[i] out
// at authURL and fails on anything but 204.
func logoutCall(client *http.Client, authURL string, tokens []string) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/v1/auth/logout", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained: the connection is reused
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("logout answered %d, want 204", resp.StatusCode)
		}
		return nil
	}
}

// logoutLoad runs b.N rounds of logouts at rate per second for
// loadDuration against the auth service at authURL, open loop (openLoop),
// each logout of a fresh token signed by signer; anything but 204 fails
// the benchmark.
func logoutLoad(b *testing.B, authURL string, signer *jwtx.Signer, rate int) {
	client := loadClient()
	warmConns(b, client, authURL+"/healthz", 64)
	n := loadCalls(rate)
	for range b.N {
		b.StopTimer()
		tokens := issueTokens(b, signer, n)
		b.StartTimer()
		openLoop(b, rate, n, logoutCall(client, authURL, tokens))
	}
}

// BenchmarkOpenLoopNoop is the load generator alone: openLoop at 1,000
// calls/s against an HTTP handler that does nothing, on loopback. Its p99
// is what the generator itself adds to every figure it measures.
func BenchmarkOpenLoopNoop(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	client := loadClient()
	warmConns(b, client, srv.URL, 64)
	n := loadCalls(logoutRate)
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
				_ = resp.Body.Close()
				return nil
			})
		}
	})
}
