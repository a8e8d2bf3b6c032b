package jwtx_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// patientURL gives the client timeouts far beyond any test's length, so a
// test that pauses Redis to let checks queue up decides alone, with its
// contexts, when a check gives up.
const patientURL = "?dial_timeout=20s&read_timeout=20s&write_timeout=20s&pool_timeout=20s"

// patientClient returns a client on srv with patientURL's timeouts.
func patientClient(t *testing.T, srv *procs.Redis) *redis.Client {
	t.Helper()
	opts, err := jwtx.RedisOptions(srv.URL + patientURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// waitStats polls until the store's coalescer has queued checks waiting
// and inFlight round trips in flight.
func waitStats(t *testing.T, s *jwtx.RedisStore, queued, inFlight int) {
	t.Helper()
	procs.Eventually(t, 10*time.Second, "coalescer reaches the expected queue", func() bool {
		q, f := jwtx.CoalescerStats(s)
		return q == queued && f == inFlight
	})
}

// peakHook records the largest pipeline and the most round trips in flight
// at once that a client sent.
type peakHook struct {
	inFlight, peakInFlight, peakBatch, pipelines atomic.Int64
}

func (h *peakHook) enter(n int) {
	if n > 1 {
		h.pipelines.Add(1)
	}
	for {
		if p := h.peakBatch.Load(); int64(n) <= p || h.peakBatch.CompareAndSwap(p, int64(n)) {
			break
		}
	}
	f := h.inFlight.Add(1)
	for {
		if p := h.peakInFlight.Load(); f <= p || h.peakInFlight.CompareAndSwap(p, f) {
			break
		}
	}
}

func (h *peakHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *peakHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "mget" {
			return next(ctx, cmd)
		}
		h.enter(1)
		defer h.inFlight.Add(-1)
		return next(ctx, cmd)
	}
}

func (h *peakHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() != "mget" { // a new connection's handshake
				return next(ctx, cmds)
			}
		}
		h.enter(len(cmds))
		defer h.inFlight.Add(-1)
		return next(ctx, cmds)
	}
}

// userCase is a user whose revocation state the test knows.
type userCase struct {
	sub, jti string
	want     jwtx.RevocationState
	wantErr  bool
}

// seedUsers writes n users in four known states: blacklisted jti, raised
// version, clean, corrupt version.
func seedUsers(t *testing.T, f *redisFixture, n int) []userCase {
	t.Helper()
	f.set(t, jwtx.KeyCheckpoint, "9")
	users := make([]userCase, n)
	for i := range users {
		u := userCase{sub: uuid.NewString(), jti: uuid.NewString(), want: jwtx.RevocationState{Initialized: true}}
		switch i % 4 {
		case 0:
			f.set(t, jwtx.BlacklistKey(u.jti), "{}")
			u.want.TokenRevoked = true
		case 1:
			f.set(t, jwtx.UserVersionKey(u.sub), "5")
			u.want.UserVersion = 5
		case 3:
			f.set(t, jwtx.UserVersionKey(u.sub), "corrupt")
			u.want, u.wantErr = jwtx.RevocationState{}, true
		}
		users[i] = u
	}
	return users
}

// Many goroutines, small batches: every check gets the state of its own
// keys, and a corrupt value fails only the check that read it.
func TestCoalescedStore_RoutesResults(t *testing.T) {
	f := startRedis(t)
	users := seedUsers(t, f, 256)
	hook := &peakHook{}
	f.rdb.AddHook(hook)
	store := jwtx.NewRedisStoreWithOptions(f.rdb, jwtx.RedisStoreOptions{MaxBatch: 8, MaxInFlight: 3})
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 60 {
				u := users[r.IntN(len(users))]
				got, err := store.RevocationState(context.Background(), jwtx.RevocationQuery{JTI: u.jti, UserID: u.sub})
				if (err != nil) != u.wantErr {
					t.Errorf("user %s: error %v, want error %v", u.sub, err, u.wantErr)
					return
				}
				if diff := cmp.Diff(u.want, got); diff != "" {
					t.Errorf("user %s: state (-want +got):\n%s", u.sub, diff)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d pipelines, largest %d, peak %d round trips in flight", hook.pipelines.Load(), hook.peakBatch.Load(), hook.peakInFlight.Load())
	if hook.peakBatch.Load() > 8 || hook.peakInFlight.Load() > 3 {
		t.Errorf("largest batch %d (max 8), peak in flight %d (max 3)", hook.peakBatch.Load(), hook.peakInFlight.Load())
	}
}

// The same through Validators, with distinct signed tokens: revoked,
// version-revoked, valid and unavailable tokens each get their own answer.
func TestCoalescedStore_ValidateConcurrent(t *testing.T) {
	f := startRedis(t)
	k := fixedKit(t)
	users := seedUsers(t, f, 64)
	v := k.Validator(t, jwtx.NewRedisStoreWithOptions(f.rdb, jwtx.RedisStoreOptions{MaxBatch: 4}))
	toks := make([]string, len(users))
	for i, u := range users {
		toks[i] = k.SignRaw(header(k.Signer.KeyID(), nil), claims(k, map[string]any{"sub": u.sub, "jti": u.jti, "ver": 1}))
	}
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			_, err := v.Validate(context.Background(), toks[i])
			var want error
			switch {
			case u.wantErr:
				want = jwtx.ErrRevocationUnavailable
			case u.want.TokenRevoked || u.want.UserVersion > 1:
				want = jwtx.ErrRevoked
			}
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Errorf("token %d: Validate = %v, want %v", i, err, want)
			}
		})
	}
	wg.Wait()
}

// With Redis paused, checks queue behind a hung round trip: full batches
// leave while slots are free, no pipeline exceeds MaxBatch, no more than
// MaxInFlight round trips are in flight, and after Resume every check is
// answered with exactly one MGET, client- and server-side.
func TestCoalescedStore_OneCommandPerValidationAndBounds(t *testing.T) {
	srv := procs.StartRedis(t)
	admin := srv.Client(t)
	rdb := patientClient(t, srv)
	counter := &countingHook{calls: map[string]int64{}}
	peaks := &peakHook{}
	rdb.AddHook(counter)
	rdb.AddHook(peaks)
	k := fixedKit(t)
	if err := admin.Set(context.Background(), jwtx.KeyCheckpoint, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	store := jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{MaxBatch: 8, MaxInFlight: 3})
	cfg := k.Config(store)
	cfg.RevocationTimeout = 20 * time.Second
	v := mustValidator(t, cfg)
	const n = 40
	toks := make([]string, n)
	for i := range toks {
		toks[i] = k.Token(t, uuid.NewString(), 0)
	}
	if _, err := v.Validate(context.Background(), toks[0]); err != nil { // warm the pool
		t.Fatal(err)
	}
	counter.reset()
	before := commandCalls(t, admin)

	srv.Pause(t)
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Go(func() {
			if _, err := v.Validate(context.Background(), tok); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	// 1 direct MGET, 2 full pipelines of 8 (3 slots), 23 waiting.
	waitStats(t, store, n-1-2*8, 3)
	srv.Resume(t)
	wg.Wait()

	delta := map[string]int64{}
	for name, calls := range commandCalls(t, admin) {
		if d := calls - before[name]; d != 0 {
			delta[name] = d
		}
	}
	if diff := cmp.Diff(map[string]int64{"mget": n}, delta); diff != "" {
		t.Errorf("server-side commands for %d validations (-want +got):\n%s", n, diff)
	}
	if diff := cmp.Diff(map[string]int64{"mget": n}, counter.reset()); diff != "" {
		t.Errorf("client-side commands for %d validations (-want +got):\n%s", n, diff)
	}
	t.Logf("%d pipelines, largest %d, peak %d round trips in flight", peaks.pipelines.Load(), peaks.peakBatch.Load(), peaks.peakInFlight.Load())
	if got := peaks.peakBatch.Load(); got != 8 {
		t.Errorf("largest pipeline %d MGETs, want MaxBatch 8", got)
	}
	if got := peaks.peakInFlight.Load(); got != 3 {
		t.Errorf("peak %d round trips in flight, want MaxInFlight 3", got)
	}
	waitStats(t, store, 0, 0)
}

// A caller whose deadline passes, or whose context is cancelled, while
// queued behind a hung round trip returns at once; the callers around it
// still get their own results.
func TestCoalescedStore_AbandonedCallers(t *testing.T) {
	srv := procs.StartRedis(t)
	f := &redisFixture{srv: srv, rdb: patientClient(t, srv), admin: srv.Client(t)}
	users := seedUsers(t, f, 4) // blacklisted, raised version, clean, corrupt
	store := jwtx.NewRedisStore(f.rdb)
	ctx := context.Background()
	if _, err := store.RevocationState(ctx, jwtx.RevocationQuery{JTI: users[2].jti, UserID: users[2].sub}); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume(t)
		}
	}()
	type result struct {
		st  jwtx.RevocationState
		err error
	}
	check := func(ctx context.Context, u userCase) <-chan result {
		ch := make(chan result, 1)
		go func() {
			st, err := store.RevocationState(ctx, jwtx.RevocationQuery{JTI: u.jti, UserID: u.sub})
			ch <- result{st, err}
		}()
		return ch
	}
	leader := check(ctx, users[0]) // direct MGET, hangs
	waitStats(t, store, 0, 1)
	early := check(ctx, users[1]) // queued before the ones that leave
	waitStats(t, store, 1, 1)

	dctx, cancelD := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelD()
	start := time.Now()
	_, err := store.RevocationState(dctx, jwtx.RevocationQuery{JTI: users[2].jti, UserID: users[2].sub})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadlined caller: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("deadlined caller returned after %s with a 50ms deadline", d)
	}

	cctx, cancelC := context.WithCancel(ctx)
	cancelled := check(cctx, users[2])
	waitStats(t, store, 3, 1)
	cancelC()
	if r := <-cancelled; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", r.err)
	}
	late := check(ctx, users[3])
	waitStats(t, store, 4, 1)

	srv.Resume(t)
	resumed = true
	for i, got := range []struct {
		ch <-chan result
		u  userCase
	}{{leader, users[0]}, {early, users[1]}, {late, users[3]}} {
		r := <-got.ch
		if (r.err != nil) != got.u.wantErr {
			t.Errorf("caller %d: error %v, want error %v", i, r.err, got.u.wantErr)
		}
		if diff := cmp.Diff(got.u.want, r.st); diff != "" {
			t.Errorf("caller %d: state (-want +got):\n%s", i, diff)
		}
	}
	waitStats(t, store, 0, 0)
}

// Redis errors fail closed every check of a pipeline: an error reply
// (ACL denies MGET) and a connection lost (server killed).
func TestCoalescedStore_RedisErrorsFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		user  bool                           // connect as a user without MGET
		fault func(*testing.T, *procs.Redis) // nil: Resume, MGET fails
	}{
		{name: "ErrReplyNoPerm", user: true},
		{name: "ErrServerKilled", fault: func(t *testing.T, srv *procs.Redis) { srv.Kill(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := procs.StartRedis(t)
			admin := srv.Client(t)
			ctx := context.Background()
			if err := admin.Set(ctx, jwtx.KeyCheckpoint, "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			url := srv.URL + patientURL
			if tc.user {
				if err := admin.Do(ctx, "ACL", "SETUSER", "nomget", "on", ">secret", "~*", "+@connection", "+get").Err(); err != nil {
					t.Fatal(err)
				}
				url = "redis://nomget:secret@" + srv.Addr + "/0" + patientURL
			}
			opts, err := jwtx.RedisOptions(url)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { _ = rdb.Close() })
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			store := jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{MaxBatch: 8})
			k := fixedKit(t)
			cfg := k.Config(store)
			cfg.RevocationTimeout = 20 * time.Second
			v := mustValidator(t, cfg)
			const n = 14
			toks := make([]string, n)
			for i := range toks {
				toks[i] = k.Token(t, uuid.NewString(), 0)
			}
			srv.Pause(t)
			errs := make(chan error, n)
			for _, tok := range toks {
				go func() {
					_, err := v.Validate(ctx, tok)
					errs <- err
				}()
			}
			waitStats(t, store, n-1-8, 2) // 1 direct, 1 full pipeline, 5 waiting
			start := time.Now()
			if tc.fault != nil {
				tc.fault(t, srv)
			} else {
				srv.Resume(t)
			}
			for range n {
				if err := <-errs; !errors.Is(err, jwtx.ErrRevocationUnavailable) {
					t.Errorf("Validate = %v, want ErrRevocationUnavailable", err)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("callers failed after %s: they waited for their deadline, not the error", d)
			}
		})
	}
}
