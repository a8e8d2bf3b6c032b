package jwtx_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// redisFixture is a real redis-server, a client configured by RedisOptions
// and an admin client for setting keys and reading stats.
type redisFixture struct {
	srv   *procs.Redis
	rdb   *redis.Client
	admin *redis.Client
}

func startRedis(t *testing.T) *redisFixture {
	t.Helper()
	srv := procs.StartRedis(t)
	opts, err := jwtx.RedisOptions(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return &redisFixture{srv: srv, rdb: rdb, admin: srv.Client(t)}
}

func (f *redisFixture) set(t *testing.T, key, val string) {
	t.Helper()
	if err := f.admin.Set(context.Background(), key, val, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRedisStore_RevocationState(t *testing.T) {
	f := startRedis(t)
	store := jwtx.NewRedisStore(f.rdb)
	ctx := context.Background()
	tests := []struct {
		name    string
		keys    map[string]string
		jti     string
		want    jwtx.RevocationState
		wantErr bool
	}{
		{name: "OKEmptyIsUninitialized", jti: testJTI},
		{name: "OKCheckpointOnly", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "12"}, want: jwtx.RevocationState{Initialized: true}},
		{name: "OKBlacklisted", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "12", jwtx.BlacklistKey(testJTI): `{"type":"token.revoked"}`}, want: jwtx.RevocationState{Initialized: true, TokenRevoked: true}},
		{name: "OKUserVersion", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testSub): "3"}, want: jwtx.RevocationState{Initialized: true, UserVersion: 3}},
		{name: "OKAllThree", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testSub): "3", jwtx.BlacklistKey(testJTI): "x"}, want: jwtx.RevocationState{Initialized: true, TokenRevoked: true, UserVersion: 3}},
		{name: "OKLegacyIgnoresBlacklist", jti: "", keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.BlacklistKey(""): "x", jwtx.UserVersionKey(testSub): "2"}, want: jwtx.RevocationState{Initialized: true, UserVersion: 2}},
		{name: "OKOtherUser", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testJTI): "5"}, want: jwtx.RevocationState{Initialized: true}},
		{name: "ErrCorruptVersion", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testSub): "abc"}, wantErr: true},
		{name: "ErrNegativeVersion", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testSub): "-1"}, wantErr: true},
		{name: "ErrEmptyVersion", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "1", jwtx.UserVersionKey(testSub): ""}, wantErr: true},
		{name: "ErrCorruptCheckpoint", jti: testJTI, keys: map[string]string{jwtx.KeyCheckpoint: "yes"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.admin.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.keys {
				f.set(t, k, v)
			}
			got, err := store.RevocationState(ctx, jwtx.RevocationQuery{JTI: tc.jti, UserID: testSub})
			if (err != nil) != tc.wantErr {
				t.Fatalf("RevocationState error %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := store.RevocationState(ctx, jwtx.RevocationQuery{JTI: testJTI, UserID: ""}); err == nil {
		t.Error("RevocationState without a user id succeeded")
	}
}

// countingHook counts the commands the client sends, apart from the
// handshake of a new connection (HELLO, CLIENT SETINFO), which go-redis
// runs once per connection and which a pool topping up its idle
// connections may run at any time.
type countingHook struct {
	mu    sync.Mutex
	calls map[string]int64
}

func (h *countingHook) count(cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cmds {
		if name := c.Name(); name != "hello" && name != "client" {
			h.calls[name]++
		}
	}
}

func (h *countingHook) reset() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	calls := h.calls
	h.calls = map[string]int64{}
	return calls
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(cmds...)
		return next(ctx, cmds)
	}
}

// commandCalls reads INFO commandstats: calls per command, without the
// connection handshake (hello, client|setinfo, ...) and INFO itself.
func commandCalls(t *testing.T, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok || name == "info" || name == "hello" || strings.HasPrefix(name, "client|") {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("commandstats line %q", line)
		}
		out[name] = calls
	}
	return out
}

// One MGET per validation, in both modes; TestCoalescedStore_OneCommandPerValidationAndBounds
// proves it for checks that leave in pipelines.
func TestRedisStore_OneRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts jwtx.RedisStoreOptions
		sid  string
	}{
		{name: "Coalesced"},
		{name: "Naive", opts: jwtx.RedisStoreOptions{DisableCoalescing: true}},
		// The session check rides in the same MGET: no round trip added.
		{name: "CoalescedWithSession", sid: testSID},
		{name: "NaiveWithSession", opts: jwtx.RedisStoreOptions{DisableCoalescing: true}, sid: testSID},
	} {
		t.Run(tc.name, func(t *testing.T) { testOneRoundTrip(t, tc.opts, tc.sid) })
	}
}

func testOneRoundTrip(t *testing.T, opts jwtx.RedisStoreOptions, sid string) {
	f := startRedis(t)
	hook := &countingHook{calls: map[string]int64{}}
	f.rdb.AddHook(hook)
	f.set(t, jwtx.KeyCheckpoint, "1")
	k := fixedKit(t)
	v := k.Validator(t, jwtx.NewRedisStoreWithOptions(f.rdb, opts))
	tok, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: testSub, SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Validate(ctx, tok); err != nil { // warm the pool
		t.Fatal(err)
	}
	hook.reset()
	before := commandCalls(t, f.admin)
	const n = 25
	for range n {
		if _, err := v.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	after := commandCalls(t, f.admin)
	delta := map[string]int64{}
	for name, calls := range after {
		if d := calls - before[name]; d != 0 {
			delta[name] = d
		}
	}
	if diff := cmp.Diff(map[string]int64{"mget": n}, delta); diff != "" {
		t.Errorf("server-side commands for %d validations (-want +got):\n%s", n, diff)
	}
	if diff := cmp.Diff(map[string]int64{"mget": n}, hook.reset()); diff != "" {
		t.Errorf("client-side commands for %d validations (-want +got):\n%s", n, diff)
	}
}

func TestRedisStore_Validate(t *testing.T) {
	f := startRedis(t)
	k := fixedKit(t)
	v := k.Validator(t, jwtx.NewRedisStore(f.rdb))
	tok, c, err := k.Signer.Issue(testSub, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name string
		set  map[string]string
		want error
	}{
		{name: "NoCheckpointFailsClosed", want: jwtx.ErrRevocationUnavailable},
		{name: "CheckpointOK", set: map[string]string{jwtx.KeyCheckpoint: "7"}},
		{name: "UserVersionEqualOK", set: map[string]string{jwtx.UserVersionKey(testSub): "1"}},
		{name: "UserVersionRaised", set: map[string]string{jwtx.UserVersionKey(testSub): "2"}, want: jwtx.ErrRevoked},
		{name: "UserVersionCorrupt", set: map[string]string{jwtx.UserVersionKey(testSub): "two"}, want: jwtx.ErrRevocationUnavailable},
		{name: "Blacklisted", set: map[string]string{jwtx.UserVersionKey(testSub): "0", jwtx.BlacklistKey(c.ID): "{}"}, want: jwtx.ErrRevoked},
	}
	for _, s := range steps {
		for key, val := range s.set {
			f.set(t, key, val)
		}
		if _, err := v.Validate(ctx, tok); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Errorf("%s: Validate = %v, want %v", s.name, err, s.want)
		}
	}
	// Redis restarted empty (no persistence): the checkpoint is gone.
	f.srv.Restart(t)
	procs.Eventually(t, 5*time.Second, "validator reconnects and fails closed", func() bool {
		_, err := v.Validate(ctx, tok)
		return errors.Is(err, jwtx.ErrRevocationUnavailable) && !errors.Is(err, redis.ErrClosed) && strings.Contains(err.Error(), "checkpoint")
	})
}

func TestRedisStore_Killed(t *testing.T) {
	f := startRedis(t)
	f.set(t, jwtx.KeyCheckpoint, "1")
	k := fixedKit(t)
	v := k.Validator(t, jwtx.NewRedisStore(f.rdb))
	h := v.Middleware(echoSubject)
	tok := k.Token(t, testSub, 0)
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.srv.Kill(t)
	for i := range 5 {
		start := time.Now()
		_, err := v.Validate(context.Background(), tok)
		if !errors.Is(err, jwtx.ErrRevocationUnavailable) {
			t.Fatalf("attempt %d: Validate with Redis killed = %v, want ErrRevocationUnavailable", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("attempt %d: Validate took %s", i, d)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("attempt %d: middleware with Redis killed = %d %q, want 503 with Retry-After", i, rec.Code, rec.Body)
		}
	}
}

func TestRedisStore_Paused(t *testing.T) {
	f := startRedis(t)
	f.set(t, jwtx.KeyCheckpoint, "1")
	k := fixedKit(t)
	store := jwtx.NewRedisStore(f.rdb)
	cfg := k.Config(store)
	cfg.RevocationTimeout = 100 * time.Millisecond
	v := mustValidator(t, cfg)
	tok := k.Token(t, testSub, 0)
	ctx := context.Background()
	if _, err := v.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.srv.Pause(t)
	for i := range 3 { // pooled connection, then fresh dials to a frozen server
		start := time.Now()
		_, err := v.Validate(ctx, tok)
		elapsed := time.Since(start)
		t.Logf("attempt %d: %s: %v", i, elapsed, err)
		if !errors.Is(err, jwtx.ErrRevocationUnavailable) {
			t.Fatalf("attempt %d: Validate with Redis paused = %v, want ErrRevocationUnavailable", i, err)
		}
		if elapsed > time.Second {
			t.Errorf("attempt %d: Validate took %s with a %s budget: the deadline was not honoured", i, elapsed, cfg.RevocationTimeout)
		}
	}
	f.srv.Resume(t)
	procs.Eventually(t, 5*time.Second, "validation recovers after Resume", func() bool {
		_, err := v.Validate(ctx, tok)
		return err == nil
	})
}

func TestRedisOptions(t *testing.T) {
	o, err := jwtx.RedisOptions("redis://127.0.0.1:6379/2")
	if err != nil {
		t.Fatal(err)
	}
	got := []any{o.Addr, o.DB, o.ContextTimeoutEnabled, o.MaxRetries, o.DialerRetries, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolSize > 0, o.MinIdleConns}
	want := []any{"127.0.0.1:6379", 2, true, -1, 1, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, true, 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	o, err = jwtx.RedisOptions("redis://127.0.0.1:6379/0?dial_timeout=2s&pool_size=3")
	if err != nil {
		t.Fatal(err)
	}
	if o.DialTimeout != 2*time.Second || o.PoolSize != 3 || !o.ContextTimeoutEnabled {
		t.Errorf("URL settings not kept: dial %s pool %d", o.DialTimeout, o.PoolSize)
	}
	if o.MaxActiveConns != o.PoolSize {
		t.Errorf("MaxActiveConns %d, want the pool size %d as a hard ceiling", o.MaxActiveConns, o.PoolSize)
	}
	if _, err := jwtx.RedisOptions("http://nope"); err == nil {
		t.Error("RedisOptions accepted an http URL")
	}
}

var _ jwtx.RevocationStore = (*jwtxtest.MemoryStore)(nil)

// A hung Redis under concurrent load: every check fails closed within its
// budget and the pool stays bounded, however many requests pile up or
// connections are discarded.
func TestRedisStore_PausedPoolBounded(t *testing.T) {
	srv := procs.StartRedis(t)
	opts, err := jwtx.RedisOptions(srv.URL + "?pool_size=4")
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := srv.Client(t).Set(context.Background(), jwtx.KeyCheckpoint, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	k := fixedKit(t)
	cfg := k.Config(jwtx.NewRedisStore(rdb))
	cfg.RevocationTimeout = 50 * time.Millisecond
	v := mustValidator(t, cfg)
	tok := k.Token(t, testSub, 0)
	srv.Pause(t)
	defer srv.Resume(t)

	var wg sync.WaitGroup
	var peak atomic.Uint32
	stop := make(chan struct{})
	go func() { // sample the pool while the requests pile up
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := rdb.PoolStats().TotalConns; n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for range 5 {
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := v.Validate(context.Background(), tok); !errors.Is(err, jwtx.ErrRevocationUnavailable) {
					t.Errorf("Validate with Redis hung = %v, want ErrRevocationUnavailable", err)
				}
			}()
		}
		wg.Wait()
	}
	close(stop)
	// go-redis keeps at most PoolSize pooled connections; while it discards
	// broken ones it may briefly hold one unpooled overflow connection per
	// caller that owns a pool turn, so 2 x PoolSize is the bound to hold.
	if got := max(peak.Load(), rdb.PoolStats().TotalConns); got > 2*4 {
		t.Fatalf("pool held %d connections, pool size 4", got)
	} else {
		t.Logf("peak: %d connections for a pool of 4", got)
	}
}

const testSID = "5e2f7a9c-3b1d-4c6e-8f0a-9b8c7d6e5f4a"

// TestRedisStore_Session: a token's sid is read in the same MGET as its
// jti, user version and checkpoint, and a listed session revokes the
// token; a token without sid never reads a session key.
func TestRedisStore_Session(t *testing.T) {
	f := startRedis(t)
	hook := &countingHook{calls: map[string]int64{}}
	f.rdb.AddHook(hook)
	store := jwtx.NewRedisStore(f.rdb)
	ctx := context.Background()
	f.set(t, jwtx.KeyCheckpoint, "3")
	f.set(t, jwtx.SessionKey(testSID), "1")
	f.set(t, jwtx.SessionKey(""), "1") // a key a sid-less token must never read
	for _, tc := range []struct {
		name string
		q    jwtx.RevocationQuery
		want jwtx.RevocationState
	}{
		{"Listed", jwtx.RevocationQuery{JTI: testJTI, SessionID: testSID, UserID: testSub}, jwtx.RevocationState{Initialized: true, SessionRevoked: true}},
		{"ListedLegacyJTI", jwtx.RevocationQuery{SessionID: testSID, UserID: testSub}, jwtx.RevocationState{Initialized: true, SessionRevoked: true}},
		{"OtherSession", jwtx.RevocationQuery{JTI: testJTI, SessionID: testJTI, UserID: testSub}, jwtx.RevocationState{Initialized: true}},
		{"NoSession", jwtx.RevocationQuery{JTI: testJTI, UserID: testSub}, jwtx.RevocationState{Initialized: true}},
	} {
		hook.reset()
		got, err := store.RevocationState(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: state (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(map[string]int64{"mget": 1}, hook.reset()); diff != "" {
			t.Errorf("%s: commands (-want +got):\n%s", tc.name, diff)
		}
	}

	k := fixedKit(t)
	v := k.Validator(t, store)
	tok, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: testSub, SessionID: testSID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevoked) {
		t.Fatalf("token of a revoked session: Validate = %v, want ErrRevoked", err)
	}
	other, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: testSub, SessionID: testJTI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(ctx, other); err != nil {
		t.Fatalf("token of a live session: %v", err)
	}
}
