package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/app"
)

func TestMain(m *testing.M) {
	redis.SetLogger(app.RedisLogger{Logger: slog.New(slog.DiscardHandler)})
	goleak.VerifyTestMain(m)
}

// stack is a running auth service with its own NATS and Redis.
type stack struct {
	t     *testing.T
	nats  *testkit.NATS
	redis *testkit.Redis
	rdb   *redis.Client
	vars  map[string]string
	main  *app.Main
	base  string
	// metricsBase is the metrics listener's URL, the only one serving
	// /metrics.
	metricsBase string
	hc          *http.Client
	// beforeOpen, when set, adjusts each new Main before Open.
	beforeOpen func(*app.Main)
	// logs, when set before a restart, also receives the service's log.
	logs io.Writer
}

// startStack starts NATS, Redis (with revocation:checkpoint = 0) and the
// service with cheap argon2 parameters; env adds or overrides variables.
func startStack(t *testing.T, env map[string]string) *stack {
	t.Helper()
	s := &stack{t: t, nats: testkit.StartNATS(t), redis: testkit.StartRedis(t)}
	s.rdb = s.redis.Client(t)
	if err := s.rdb.Set(context.Background(), jwtx.KeyCheckpoint, "0", 0).Err(); err != nil {
		t.Fatalf("set checkpoint: %v", err)
	}
	s.vars = map[string]string{
		"NATS_URL":                s.nats.URL,
		"REDIS_URL":               s.redis.URL,
		"LOG_LEVEL":               "error",
		"AUTH_HTTP_ADDR":          "127.0.0.1:0",
		"AUTH_METRICS_ADDR":       "127.0.0.1:0",
		"AUTH_DB_PATH":            filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ARGON2_MEMORY_KIB":  "64",
		"AUTH_ARGON2_ITERATIONS":  "1",
		"AUTH_ARGON2_PARALLELISM": "1",
		"AUTH_REVOCATION_WAIT":    "300ms",
		// Generous limits: the rate-limit tests set their own.
		"AUTH_LOGIN_RATE_USER": "1000/1m",
		"AUTH_LOGIN_RATE_IP":   "1000/1m",
	}
	s.hc = &http.Client{Timeout: 20 * time.Second}
	t.Cleanup(s.hc.CloseIdleConnections)
	s.restart(env)
	return s
}

// restart closes the running service, if any, and starts a new one on the
// same NATS, Redis and database, with env changed.
func (s *stack) restart(env map[string]string) {
	s.t.Helper()
	if s.main != nil {
		if err := s.main.Close(); err != nil {
			s.t.Fatalf("Close: %v", err)
		}
	}
	for k, v := range env {
		s.vars[k] = v
	}
	vars := maps.Clone(s.vars)
	var stderr io.Writer = newTestWriter(s.t)
	if s.logs != nil {
		stderr = io.MultiWriter(stderr, s.logs)
	}
	m, err := app.NewMain(func(k string) string { return vars[k] }, nil, stderr)
	if err != nil {
		s.t.Fatalf("NewMain: %v", err)
	}
	if s.beforeOpen != nil {
		s.beforeOpen(m)
	}
	if err := m.Open(context.Background()); err != nil {
		_ = m.Close()
		s.t.Fatalf("Open: %v", err)
	}
	s.t.Cleanup(func() {
		if err := m.Close(); err != nil {
			s.t.Errorf("Close: %v", err)
		}
	})
	s.main = m
	s.base = "http://" + m.Addr()
	s.metricsBase = "http://" + m.MetricsAddr()
}

// another starts a second instance of the service on the same NATS,
// Redis and database, as a replica would run.
func (s *stack) another() *stack {
	s.t.Helper()
	o := &stack{t: s.t, nats: s.nats, redis: s.redis, rdb: s.rdb, vars: maps.Clone(s.vars), hc: s.hc, beforeOpen: s.beforeOpen}
	o.restart(nil)
	return o
}

// testWriter sends the service's log lines to the test log, and drops
// those that come after the test (asynchronous NATS callbacks).
type testWriter struct {
	t    *testing.T
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, mu: &sync.Mutex{}, done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// response is a read answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; token, when not empty, goes in a Bearer header.
func (s *stack) do(method, path, token string, body []byte) response {
	s.t.Helper()
	return s.doHeader(method, path, token, body, nil)
}

// doHeader is do with extra request headers.
func (s *stack) doHeader(method, path, token string, body []byte, header http.Header) response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// scrape returns the text exposition of the metrics listener's /metrics.
func (s *stack) scrape() string {
	s.t.Helper()
	res := s.fetch(http.MethodGet, s.metricsBase+"/metrics")
	if res.status != http.StatusOK {
		s.t.Fatalf("GET %s/metrics: %d %s", s.metricsBase, res.status, res.body)
	}
	return string(res.body)
}

// fetch sends a request without a body to any URL.
func (s *stack) fetch(method, url string) response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (s *stack) post(path, token, body string) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, token, []byte(body))
}

func (s *stack) get(path, token string) response {
	s.t.Helper()
	return s.do(http.MethodGet, path, token, nil)
}

func creds(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return string(b)
}

// register creates a user and returns its id.
func (s *stack) register(user, pw string) string {
	s.t.Helper()
	res := s.post("/v1/auth/register", "", creds(user, pw))
	if res.status != http.StatusCreated {
		s.t.Fatalf("register %s: %d %s", user, res.status, res.body)
	}
	var out struct {
		UserID string `json:"user_id"`
	}
	decodeStrict(s.t, res.body, &out)
	return out.UserID
}

// login returns an access token.
func (s *stack) login(user, pw string) string {
	s.t.Helper()
	token, res := s.tryLogin(user, pw)
	if res.status != http.StatusOK {
		s.t.Fatalf("login %s: %d %s", user, res.status, res.body)
	}
	return token
}

// tryLogin returns the access token, or "" and the answer when it is not
// a 200.
func (s *stack) tryLogin(user, pw string) (string, response) {
	s.t.Helper()
	res := s.post("/v1/auth/login", "", creds(user, pw))
	if res.status != http.StatusOK {
		return "", res
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		// Sessions (issue #11): the refresh token of the login's session.
		RefreshToken     string `json:"refresh_token"`
		RefreshExpiresIn int64  `json:"refresh_expires_in"`
	}
	decodeStrict(s.t, res.body, &out)
	return out.AccessToken, res
}

// meStatus returns the status of GET /v1/auth/me with token.
func (s *stack) meStatus(token string) int {
	s.t.Helper()
	return s.get("/v1/auth/me", token).status
}

func decodeStrict(tb testing.TB, body []byte, v any) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
}

// wantError checks a JSON error answer: status, Content-Type, code, a
// message, and the headers RFC 6750 and Retry-After call for.
func wantError(tb testing.TB, res response, status int, code string) {
	tb.Helper()
	if res.status != status {
		tb.Fatalf("status %d, want %d; body %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	decodeStrict(tb, res.body, &e)
	if e.Error != code || e.Message == "" {
		tb.Fatalf("error body %s, want code %q and a message", res.body, code)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
		tb.Fatalf("401 without WWW-Authenticate: Bearer error=\"invalid_token\": %q", res.header.Get("WWW-Authenticate"))
	}
	if status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "" {
		tb.Fatal("503 without Retry-After")
	}
}

// startApplier runs a stand-in for services/revocation: it consumes the
// stream, writes the Redis keys pkg/jwtx reads and, when announce is set,
// publishes events.Applied for each event.
func startApplier(t *testing.T, s *stack, announce bool) {
	t.Helper()
	ctx := context.Background()
	nc := s.nats.Connect(t)
	js := s.nats.JetStream(t)
	rdb := s.redis.Client(t)
	// setMax raises KEYS[1] to ARGV[1], expiring at ARGV[2] ms unless 0.
	setMax := redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then
  if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) end
end
return 0`)
	sub, err := events.Subscribe(ctx, js, events.SubscribeConfig{Durable: "test-applier", RetryDelay: 50 * time.Millisecond},
		func(ctx context.Context, ev events.Event, meta events.Meta) error {
			exp := ev.ExpiresAt
			if exp.IsZero() {
				exp = time.Now().Add(time.Hour)
			}
			pxat := exp.Add(30 * time.Second).UnixMilli()
			switch ev.Type {
			case events.TypeTokenRevoked:
				body, err := events.Encode(ev)
				if err != nil {
					return err
				}
				err = rdb.SetArgs(ctx, jwtx.BlacklistKey(ev.JTI), body, redis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(pxat)}).Err()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
			case events.TypeSessionRevoked:
				err := rdb.SetArgs(ctx, jwtx.SessionKey(ev.SessionID), "1", redis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(pxat)}).Err()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
			case events.TypeUserTokensRevoked:
				if err := setMax.Run(ctx, rdb, []string{jwtx.UserVersionKey(ev.UserID)}, ev.Version, pxat).Err(); err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
			}
			if err := setMax.Run(ctx, rdb, []string{jwtx.KeyCheckpoint}, meta.Sequence, 0).Err(); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if !announce {
				return nil
			}
			body, err := events.EncodeApplied(events.Applied{Ranges: [][2]uint64{{meta.Sequence, meta.Sequence}}, Checkpoint: meta.Sequence, At: time.Now()})
			if err != nil {
				return err
			}
			return nc.Publish(events.SubjectApplied, body)
		})
	if err != nil {
		t.Fatalf("applier: %v", err)
	}
	t.Cleanup(sub.Stop)
}

func readAll(res *http.Response) ([]byte, error) {
	return io.ReadAll(res.Body)
}
