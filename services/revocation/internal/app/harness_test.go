package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/app"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor is how long a test waits for something the service does.
const waitFor = 15 * time.Second

// env is one NATS server and one Redis server for a test.
type env struct {
	nt  *testkit.NATS
	rd  *testkit.Redis
	rdb *redis.Client
	js  jetstream.JetStream
	pub *events.Publisher
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	e := &env{nt: testkit.StartNATS(t), rd: testkit.StartRedis(t)}
	e.rdb = e.rd.Client(t)
	e.js = e.nt.JetStream(t)
	e.pub = events.NewPublisher(e.js)
	// As the auth service does at start: the stream exists before the
	// revocation service runs, so that raw publishes never race it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(ctx, e.js, events.StreamConfig{MinMaxAge: 24 * time.Hour}); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	return e
}

// service is one in-process run of the revocation service.
type service struct {
	t    *testing.T
	addr string // /healthz, /readyz
	// metricsAddr is the metrics listener's, the only one serving /metrics.
	metricsAddr string
	cancel      context.CancelFunc
	done        chan error
	once        sync.Once
	err         error
}

// start runs the service against e with test-friendly settings; vars
// ("KEY=value") override them. It is stopped when the test ends.
func (e *env) start(t *testing.T, vars ...string) *service {
	t.Helper()
	m := map[string]string{
		"NATS_URL":                  e.nt.URL,
		"REDIS_URL":                 e.rd.URL,
		"REVOCATION_HTTP_ADDR":      "127.0.0.1:0",
		"REVOCATION_METRICS_ADDR":   "127.0.0.1:0",
		"REVOCATION_CHECK_INTERVAL": "50ms",
		"LOG_LEVEL":                 "debug",
		"LOG_FORMAT":                "text",
	}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{t: t, cancel: cancel, done: make(chan error, 1)}
	logs := &testLog{t: t}
	addr, metricsAddr := make(chan string, 1), make(chan string, 1)
	go func() {
		s.done <- app.Run(ctx, func(k string) string { return m[k] }, nil, logs,
			app.OnListen(func(a string) { addr <- a }), app.OnMetricsListen(func(a string) { metricsAddr <- a }))
	}()
	t.Cleanup(func() {
		s.stop()
		logs.close()
	})
	select {
	case s.addr = <-addr:
		s.metricsAddr = <-metricsAddr // sent first
	case err := <-s.done:
		t.Fatalf("service exited at start: %v", err)
	case <-time.After(waitFor):
		t.Fatal("service did not start listening")
	}
	return s
}

// stop cancels Run's context and waits for it to return.
func (s *service) stop() error {
	s.t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.t.Fatal("service did not stop within 30s")
		}
		if s.err != nil {
			s.t.Errorf("Run returned %v", s.err)
		}
	})
	return s.err
}

// waitReady waits until /readyz answers 200.
func (s *service) waitReady(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, waitFor, "/readyz answers 200", func() bool {
		code, _, _ := s.do(t, http.MethodGet, "/readyz")
		return code == http.StatusOK
	})
}

// testLog sends the service's log to the test's output, until the test
// ends.
type testLog struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func tokenEvent(now time.Time, exp time.Time) events.Event {
	return events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: exp, Reason: "logout"}.Event(now)
}

func userEvent(now time.Time, user string, version int64, exp time.Time) events.Event {
	return events.UserTokensRevoked{UserID: user, Version: version, ExpiresAt: exp}.Event(now)
}

// key is the Redis key an event writes.
func key(ev events.Event) string {
	switch ev.Type {
	case events.TypeTokenRevoked:
		return store.KeyPrefixTokenBlacklist + ev.JTI
	case events.TypeSessionRevoked:
		return store.KeyPrefixSessionRevoked + ev.SessionID
	}
	return store.KeyPrefixUserTokenVersion + ev.UserID
}

// publish publishes ev and returns its stream sequence, retrying while
// NATS is unreachable.
func (e *env) publish(t *testing.T, ev events.Event) uint64 {
	t.Helper()
	var seq uint64
	testkit.Eventually(t, waitFor, "publish "+ev.ID, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ack, err := e.pub.Publish(ctx, ev)
		seq = ack.Sequence
		return err == nil
	})
	return seq
}

// publishRaw stores any payload on any subject, bypassing validation and
// de-duplication.
func (e *env) publishRaw(t *testing.T, subject string, body []byte) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := e.js.Publish(ctx, subject, body)
	if err != nil {
		t.Fatalf("publish raw on %s: %v", subject, err)
	}
	return ack.Sequence
}

// checkpoint reads revocation:checkpoint.
func (e *env) checkpoint(t *testing.T) (uint64, bool) {
	t.Helper()
	v, err := e.rdb.Get(context.Background(), store.KeyCheckpoint).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false
	}
	if err != nil {
		return 0, false // Redis restarting
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("checkpoint %q: %v", v, err)
	}
	return n, true
}

// waitCheckpoint waits until the checkpoint reaches seq.
func (e *env) waitCheckpoint(t *testing.T, seq uint64) {
	t.Helper()
	testkit.Eventually(t, waitFor, "checkpoint reaches "+strconv.FormatUint(seq, 10), func() bool {
		cp, ok := e.checkpoint(t)
		return ok && cp >= seq
	})
}

// get reads a key; ok is false when it is missing.
func (e *env) get(t *testing.T, k string) (string, bool) {
	t.Helper()
	v, err := e.rdb.Get(context.Background(), k).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", k, err)
	}
	return v, true
}

// expireTime returns the key's absolute expiry (PEXPIRETIME).
func (e *env) expireTime(t *testing.T, k string) time.Time {
	t.Helper()
	d, err := e.rdb.PExpireTime(context.Background(), k).Result()
	if err != nil {
		t.Fatalf("PEXPIRETIME %s: %v", k, err)
	}
	return time.UnixMilli(d.Milliseconds())
}

// consumerPending is NumPending + NumAckPending of the durable consumer.
func (e *env) consumerPending(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, events.StreamName, "revocation")
	if err != nil {
		return 1 << 62
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 1 << 62
	}
	return info.NumPending + uint64(info.NumAckPending)
}

// do returns the status, headers and body of a request to the health
// listener.
func (s *service) do(t *testing.T, method, path string) (int, http.Header, []byte) {
	t.Helper()
	return request(t, method, "http://"+s.addr+path)
}

// doMetrics is do on the metrics listener.
func (s *service) doMetrics(t *testing.T, method, path string) (int, http.Header, []byte) {
	t.Helper()
	return request(t, method, "http://"+s.metricsAddr+path)
}

func request(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// jsonBody decodes a JSON object of strings.
func jsonBody(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil { // the string members; /readyz's checks are an object
			m[k] = s
		}
	}
	return m
}

// metric sums the samples of a metric whose labels include labels
// (`name="value"` pairs), scraped from the metrics listener's /metrics.
func (s *service) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	_, _, body := s.doMetrics(t, http.MethodGet, "/metrics")
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
