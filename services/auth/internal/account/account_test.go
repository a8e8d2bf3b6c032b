package account_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
	"github.com/eventjwt/eventjwt/services/auth/internal/password"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// The fakes below stand in for the SQLite store, the argon2id hasher, the
// signer, the JetStream revoker and Redis: the protocol is tested alone.

const userID = "5f0c3a4e-8d2b-4c1a-9e7f-1a2b3c4d5e6f"

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// users is an in-memory account.Users.
type users struct {
	mu     sync.Mutex
	byID   map[string]store.User
	failAt string // method name that fails with errStore
}

var errStore = errors.New("store: disk on fire")

func newUsers(us ...store.User) *users {
	u := &users{byID: map[string]store.User{}}
	for _, x := range us {
		u.byID[x.ID] = x
	}
	return u
}

func (u *users) fail(m string) error {
	if u.failAt == m {
		return errStore
	}
	return nil
}

func (u *users) CreateUser(_ context.Context, nu store.User) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail("CreateUser"); err != nil {
		return err
	}
	for _, x := range u.byID {
		if strings.EqualFold(x.Username, nu.Username) {
			return fmt.Errorf("create: %w", store.ErrUsernameTaken)
		}
	}
	u.byID[nu.ID] = nu
	return nil
}

func (u *users) UserByUsername(_ context.Context, name string) (store.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.byID {
		if strings.EqualFold(x.Username, name) {
			return x, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (u *users) UserByID(_ context.Context, id string) (store.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x, ok := u.byID[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return x, nil
}

func (u *users) UsernameExists(ctx context.Context, name string) (bool, error) {
	_, err := u.UserByUsername(ctx, name)
	return err == nil, nil
}

func (u *users) TokenVersion(_ context.Context, id string) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail("TokenVersion"); err != nil {
		return 0, err
	}
	x, ok := u.byID[id]
	if !ok {
		return 0, store.ErrNotFound
	}
	return x.TokenVersion, nil
}

func (u *users) SetTokenVersionAtLeast(_ context.Context, id string, v int64) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.fail("SetTokenVersionAtLeast"); err != nil {
		return 0, err
	}
	x, ok := u.byID[id]
	if !ok {
		return 0, store.ErrNotFound
	}
	x.TokenVersion = max(x.TokenVersion, v)
	u.byID[id] = x
	return x.TokenVersion, nil
}

func (u *users) SetPasswordHash(_ context.Context, id, hash string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	x := u.byID[id]
	x.PasswordHash = hash
	u.byID[id] = x
	return nil
}

func (u *users) version(id string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id].TokenVersion
}

// passwords "hashes" p as "v2:"+p; a "v1:" hash needs a rehash.
type passwords struct{ dummies atomic.Int32 }

func (*passwords) Hash(_ context.Context, p string) (string, error) { return "v2:" + p, nil }
func (*passwords) Verify(_ context.Context, enc, p string) error {
	if enc != "v2:"+p && enc != "v1:"+p {
		return password.ErrMismatch
	}
	return nil
}
func (p *passwords) VerifyDummy(context.Context, string) error {
	p.dummies.Add(1)
	return password.ErrMismatch
}
func (*passwords) NeedsRehash(enc string) bool { return strings.HasPrefix(enc, "v1:") }

// issuer returns the version it was asked for as the token.
type issuer struct{}

func (issuer) Issue(sub string, ver int64) (string, jwtx.Claims, error) {
	return fmt.Sprintf("token-%s-v%d", sub, ver), jwtx.Claims{Subject: sub, Version: ver, IssuedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}, nil
}
func (issuer) TTL() time.Duration { return 15 * time.Minute }

// revoker records what is published; err fails every publish, outcome is
// what Await answers. Publish also checks that no two publishes of one
// user overlap (the per-user lock of LogoutAll).
type revoker struct {
	mu        sync.Mutex
	published []events.Event
	err       error
	outcome   revoke.Outcome
	inFlight  atomic.Int32
	overlaps  atomic.Int32
}

func (r *revoker) Publish(_ context.Context, ev events.Event) (events.PubAck, error) {
	if r.inFlight.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	defer r.inFlight.Add(-1)
	time.Sleep(time.Millisecond) // widen the window an unlocked caller would need
	if r.err != nil {
		return events.PubAck{}, fmt.Errorf("%w: %w", revoke.ErrUnavailable, r.err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, ev)
	return events.PubAck{Sequence: uint64(len(r.published))}, nil
}

func (r *revoker) Await(context.Context, events.Event, events.PubAck) revoke.Outcome {
	return r.outcome
}

func (r *revoker) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.published...)
}

// enforced is what Redis holds for every user.
type enforced struct {
	version int64
	err     error
}

func (e enforced) RevocationState(context.Context, jwtx.RevocationQuery) (jwtx.RevocationState, error) {
	return jwtx.RevocationState{Initialized: true, UserVersion: e.version}, e.err
}

type fixture struct {
	svc   *account.Service
	users *users
	pw    *passwords
	rev   *revoker
}

func newFixture(t *testing.T, cfg account.Config) *fixture {
	t.Helper()
	f := &fixture{users: newUsers(store.User{ID: userID, Username: "alice", PasswordHash: "v2:correct horse"}), pw: &passwords{}, rev: &revoker{outcome: revoke.Enforced}}
	if cfg.Users == nil {
		cfg.Users = f.users
	}
	cfg.Passwords, cfg.Issuer, cfg.Revoker = f.pw, issuer{}, f.rev
	cfg.Now = func() time.Time { return t0 }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := account.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *account.Error
	if !errors.As(err, &e) || e.Code != code || e.Message == "" {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func TestRegister(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t, account.Config{NewID: func() string { return "1d1c2f3e-0000-4000-8000-000000000001" }})
		id, err := f.svc.Register(t.Context(), "bob", "xk8#qz!m-long")
		if err != nil || id != "1d1c2f3e-0000-4000-8000-000000000001" {
			t.Fatalf("Register = %q, %v", id, err)
		}
		u, _ := f.users.UserByID(t.Context(), id)
		if u.PasswordHash != "v2:xk8#qz!m-long" || !u.CreatedAt.Equal(t0) || u.TokenVersion != 0 {
			t.Fatalf("stored %+v", u)
		}
	})
	t.Run("ErrUsernameTaken", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Register(t.Context(), "ALICE", "xk8#qz!m-long")
		wantCode(t, err, account.CodeUsernameTaken)
	})
	t.Run("ErrUsernameTakenRace", func(t *testing.T) {
		// The existence check passed; the unique index refuses.
		f := newFixture(t, account.Config{})
		racy := &racyUsers{users: f.users}
		f2 := newFixture(t, account.Config{Users: racy})
		_, err := f2.svc.Register(t.Context(), "alice", "xk8#qz!m-long")
		wantCode(t, err, account.CodeUsernameTaken)
	})
	t.Run("ErrWeakPassword", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Register(t.Context(), "bob", "Password123")
		wantCode(t, err, account.CodeWeakPassword)
	})
	t.Run("ErrInvalidUsername", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Register(t.Context(), "a b", "xk8#qz!m-long")
		wantCode(t, err, account.CodeInvalidRequest)
	})
	t.Run("ErrStore", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		f.users.failAt = "CreateUser"
		_, err := f.svc.Register(t.Context(), "bob", "xk8#qz!m-long")
		if !errors.Is(err, errStore) || account.Code(err) != "" {
			t.Fatalf("err = %v, want the store's error, uncoded (a 500)", err)
		}
	})
}

// racyUsers says no username exists, as if another register won the race
// between the check and the insert.
type racyUsers struct{ *users }

func (racyUsers) UsernameExists(context.Context, string) (bool, error) { return false, nil }

func TestLogin(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		tok, err := f.svc.Login(t.Context(), "alice", "correct horse")
		if err != nil || tok.Claims.Subject != userID || tok.Claims.Version != 0 || tok.Token == "" {
			t.Fatalf("Login = %+v, %v", tok, err)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Login(t.Context(), "nobody", "correct horse")
		if !errors.Is(err, account.ErrUnknownUser) {
			t.Fatalf("err = %v", err)
		}
		wantCode(t, err, account.CodeInvalidCredentials)
		if f.pw.dummies.Load() != 1 {
			t.Fatal("an unknown user must cost the same hash as a wrong password")
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Login(t.Context(), "alice", "wrong horse")
		if !errors.Is(err, account.ErrWrongPassword) {
			t.Fatalf("err = %v", err)
		}
		wantCode(t, err, account.CodeInvalidCredentials)
		if account.ErrWrongPassword.Message != account.ErrUnknownUser.Message {
			t.Fatal("the two failures must read the same to the client")
		}
	})
	t.Run("ErrMissingField", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, err := f.svc.Login(t.Context(), "alice", "")
		wantCode(t, err, account.CodeInvalidRequest)
	})
	t.Run("Rehash", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_ = f.users.SetPasswordHash(t.Context(), userID, "v1:correct horse")
		if _, err := f.svc.Login(t.Context(), "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		if u, _ := f.users.UserByID(t.Context(), userID); u.PasswordHash != "v2:correct horse" {
			t.Fatalf("hash %q not upgraded", u.PasswordHash)
		}
	})
}

// TestLoginVersionRepair: a logout-all whose event was stored but whose
// store update was lost leaves the stored version behind the enforced
// one; login issues the enforced version and repairs the store, unless
// the enforced value cannot be trusted.
func TestLoginVersionRepair(t *testing.T) {
	cases := []struct {
		name       string
		stored     int64
		enforced   enforced
		noEnforced bool
		wantToken  int64
		wantStored int64
	}{
		{"OKBehind", 2, enforced{version: 5}, false, 5, 5},
		{"OKEqual", 5, enforced{version: 5}, false, 5, 5},
		{"OKAhead", 7, enforced{version: 5}, false, 7, 7},
		{"Unreadable", 2, enforced{version: 9, err: errors.New("redis: down")}, false, 2, 2},
		{"OutOfRange", 2, enforced{version: events.MaxVersion + 1}, false, 2, 2},
		{"Negative", 2, enforced{version: -1}, false, 2, 2},
		{"NoReader", 2, enforced{}, true, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := account.Config{Enforced: tc.enforced}
			if tc.noEnforced {
				cfg.Enforced = nil
			}
			f := newFixture(t, cfg)
			_, _ = f.users.SetTokenVersionAtLeast(t.Context(), userID, tc.stored)
			tok, err := f.svc.Login(t.Context(), "alice", "correct horse")
			if err != nil {
				t.Fatal(err)
			}
			if tok.Claims.Version != tc.wantToken || f.users.version(userID) != tc.wantStored {
				t.Fatalf("token ver %d, stored %d; want %d, %d", tok.Claims.Version, f.users.version(userID), tc.wantToken, tc.wantStored)
			}
		})
	}
}

func claims(ver int64) *jwtx.Claims {
	return &jwtx.Claims{Subject: userID, ID: "0b0d5a7e-1111-4222-8333-444455556666", Version: ver, ExpiresAt: t0.Add(10 * time.Minute)}
}

func TestLogout(t *testing.T) {
	t.Run("OKEnforced", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		rev, err := f.svc.Logout(t.Context(), claims(0))
		if err != nil || rev.Outcome != account.Enforced || rev.Ack.Sequence != 1 {
			t.Fatalf("Logout = %+v, %v", rev, err)
		}
		ev := f.rev.events()[0]
		if ev.Type != events.TypeTokenRevoked || ev.JTI != claims(0).ID || !ev.ExpiresAt.Equal(claims(0).ExpiresAt) ||
			ev.Reason != account.ReasonLogout || ev.Actor != events.UserActor(userID) {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("OKPending", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		f.rev.outcome = revoke.Pending
		rev, err := f.svc.Logout(t.Context(), claims(0))
		if err != nil || rev.Outcome != account.Pending {
			t.Fatalf("Logout = %+v, %v", rev, err)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		f.rev.err = errors.New("nats: timeout")
		rev, err := f.svc.Logout(t.Context(), claims(0))
		if !errors.Is(err, account.ErrUnavailable) || rev.Outcome != account.Unavailable {
			t.Fatalf("Logout = %+v, %v", rev, err)
		}
	})
	t.Run("ErrLegacyToken", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		c := claims(0)
		c.ID = ""
		_, err := f.svc.Logout(t.Context(), c)
		wantCode(t, err, account.CodeUnsupportedToken)
		if len(f.rev.events()) != 0 {
			t.Fatal("published for a legacy token")
		}
	})
	t.Run("KeyedIDsRepeat", func(t *testing.T) {
		// With a key, logging out twice publishes one id (stored once by
		// JetStream's duplicate window); without, two random ids.
		for _, key := range [][]byte{[]byte("k"), nil} {
			f := newFixture(t, account.Config{EventIDKey: key})
			_, _ = f.svc.Logout(t.Context(), claims(0))
			_, _ = f.svc.Logout(t.Context(), claims(0))
			evs := f.rev.events()
			if same := evs[0].ID == evs[1].ID; same != (key != nil) {
				t.Fatalf("key %q: ids %s, %s", key, evs[0].ID, evs[1].ID)
			}
		}
	})
}

func TestLogoutAll(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, _ = f.users.SetTokenVersionAtLeast(t.Context(), userID, 3)
		rev, err := f.svc.LogoutAll(t.Context(), claims(3))
		if err != nil || rev.Outcome != account.Enforced {
			t.Fatalf("LogoutAll = %+v, %v", rev, err)
		}
		ev := f.rev.events()[0]
		if ev.Type != events.TypeUserTokensRevoked || ev.Version != 4 || !ev.ExpiresAt.Equal(t0.Add(15*time.Minute)) ||
			ev.Reason != account.ReasonLogoutAll {
			t.Fatalf("event %+v", ev)
		}
		if v := f.users.version(userID); v != 4 {
			t.Fatalf("stored version %d, want 4", v)
		}
	})
	t.Run("OKRevokedTokenRepublishes", func(t *testing.T) {
		// A token an earlier logout-all revoked cannot log newer sessions out.
		f := newFixture(t, account.Config{})
		_, _ = f.users.SetTokenVersionAtLeast(t.Context(), userID, 5)
		if _, err := f.svc.LogoutAll(t.Context(), claims(2)); err != nil {
			t.Fatal(err)
		}
		if ev := f.rev.events()[0]; ev.Version != 5 || f.users.version(userID) != 5 {
			t.Fatalf("published %d, stored %d; want 5, 5", ev.Version, f.users.version(userID))
		}
	})
	t.Run("OKRetryIsIdempotent", func(t *testing.T) {
		// The same token again publishes the same version with the same id.
		f := newFixture(t, account.Config{EventIDKey: []byte("k")})
		_, _ = f.svc.LogoutAll(t.Context(), claims(0))
		_, _ = f.svc.LogoutAll(t.Context(), claims(0))
		evs := f.rev.events()
		if evs[0].Version != 1 || evs[1].Version != 1 || evs[0].ID != evs[1].ID {
			t.Fatalf("events %+v", evs)
		}
	})
	t.Run("ErrPublishChangesNothing", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		f.rev.err = errors.New("nats: no responders")
		rev, err := f.svc.LogoutAll(t.Context(), claims(0))
		if !errors.Is(err, account.ErrUnavailable) || rev.Outcome != account.Unavailable {
			t.Fatalf("LogoutAll = %+v, %v", rev, err)
		}
		if v := f.users.version(userID); v != 0 {
			t.Fatalf("stored version raised to %d without a durable event", v)
		}
	})
	t.Run("ErrDurableNotRecorded", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		f.users.failAt = "SetTokenVersionAtLeast"
		_, err := f.svc.LogoutAll(t.Context(), claims(0))
		wantCode(t, err, account.CodeRevocationUnavailable)
		if len(f.rev.events()) != 1 {
			t.Fatal("the event was not published first")
		}
	})
	t.Run("ErrVersionExhausted", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		_, _ = f.users.SetTokenVersionAtLeast(t.Context(), userID, events.MaxVersion)
		_, err := f.svc.LogoutAll(t.Context(), claims(events.MaxVersion))
		wantCode(t, err, account.CodeVersionExhausted)
		if len(f.rev.events()) != 0 {
			t.Fatal("published a version above events.MaxVersion")
		}
	})
	t.Run("ErrUserGone", func(t *testing.T) {
		f := newFixture(t, account.Config{})
		c := claims(0)
		c.Subject = "9e9e9e9e-9e9e-4e9e-8e9e-9e9e9e9e9e9e"
		if _, err := f.svc.LogoutAll(t.Context(), c); !errors.Is(err, jwtx.ErrInvalidToken) {
			t.Fatalf("err = %v, want jwtx.ErrInvalidToken", err)
		}
	})
	t.Run("SerializedPerUser", func(t *testing.T) {
		// Concurrent calls with one current token: the first raises the
		// version to 1; the others find their token revoked and re-publish
		// 1. Never two publishes of one user at once, never version 2.
		f := newFixture(t, account.Config{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := f.svc.LogoutAll(context.Background(), claims(0)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := f.rev.overlaps.Load(); n != 0 {
			t.Fatalf("%d overlapping publishes for one user", n)
		}
		for _, ev := range f.rev.events() {
			if ev.Version != 1 {
				t.Fatalf("published version %d, want 1 every time", ev.Version)
			}
		}
		if v := f.users.version(userID); v != 1 {
			t.Fatalf("stored version %d, want 1", v)
		}
	})
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[account.Outcome]string{account.Unavailable: "unavailable", account.Pending: "pending", account.Enforced: "enforced"} {
		if o.String() != want {
			t.Errorf("%d: %q, want %q", o, o.String(), want)
		}
	}
}
