package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

const (
	sidA = "5a1d0000-0000-4000-8000-000000000001"
	sidB = "5a1d0000-0000-4000-8000-000000000002"
	sidC = "5a1d0000-0000-4000-8000-000000000003"
)

func mustSession(tb testing.TB, db *store.DB, user, sid, token string) {
	tb.Helper()
	err := db.CreateSession(context.Background(),
		store.Session{ID: sid, UserID: user, CreatedAt: t0, UserAgent: "ua", ClientAddr: "192.0.2.0/24", AccessExpiresAt: t0.Add(15 * time.Minute)},
		store.RefreshToken{Hash: hashOf(token), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		tb.Fatalf("create session: %v", err)
	}
}

func rotateReq(token, next string, now time.Time) store.RotateRequest {
	return store.RotateRequest{Hash: hashOf(token), SuccessorHash: hashOf(next), SuccessorJTI: "jti-" + next,
		Now: now, Grace: 10 * time.Second, RefreshTTL: time.Hour, AccessTTL: 15 * time.Minute}
}

func TestCreateSession(t *testing.T) { forEachEngine(t, testCreateSession) }

func testCreateSession(t *testing.T, e engine) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := e.open(t)
		mustCreate(t, db, idAlice, "alice")
		long := strings.Repeat("é", 200)
		err := db.CreateSession(ctx, store.Session{ID: sidA, UserID: idAlice, CreatedAt: t0, UserAgent: long, AccessExpiresAt: t0.Add(time.Minute)},
			store.RefreshToken{Hash: hashOf("t1"), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := db.Session(ctx, sidA)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.UserAgent) > store.MaxUserAgentLen || !strings.HasPrefix(long, s.UserAgent) || !s.ExpiresAt.Equal(t0.Add(time.Hour)) ||
			!s.LastUsedAt.Equal(t0) || !s.Active(t0) {
			t.Fatalf("session %+v", s)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		db := e.open(t)
		err := db.CreateSession(ctx, store.Session{ID: sidA, UserID: idAlice, CreatedAt: t0},
			store.RefreshToken{Hash: hashOf("t1"), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		if err == nil {
			t.Fatal("session of an unknown user stored")
		}
		if _, err := db.Session(ctx, sidA); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("err = %v, want ErrSessionNotFound", err)
		}
	})
}

func TestRotate(t *testing.T) { forEachEngine(t, testRotate) }

func testRotate(t *testing.T, e engine) {
	ctx := context.Background()
	setup := func(t *testing.T) *store.DB {
		db := e.open(t)
		mustCreate(t, db, idAlice, "alice")
		mustSession(t, db, idAlice, sidA, "t1")
		if _, err := db.SetTokenVersionAtLeast(ctx, idAlice, 7); err != nil {
			t.Fatal(err)
		}
		return db
	}
	t.Run("Rotated", func(t *testing.T) {
		db := setup(t)
		now := t0.Add(time.Minute)
		r, err := db.Rotate(ctx, rotateReq("t1", "t2", now))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.Rotated || r.Grant.Version != 7 || r.Grant.JTI != "jti-t2" || !r.Grant.IssuedAt.Equal(now) ||
			!bytes.Equal(r.SuccessorHash, hashOf("t2")) || r.Session.ID != sidA {
			t.Fatalf("rotation %+v", r)
		}
		s, _ := db.Session(ctx, sidA)
		if !s.LastUsedAt.Equal(now) || !s.AccessExpiresAt.Equal(now.Add(15*time.Minute)) || !s.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("session %+v", s)
		}
		// The successor is live.
		r2, err := db.Rotate(ctx, rotateReq("t2", "t3", now.Add(time.Minute)))
		if err != nil || r2.Status != store.Rotated {
			t.Fatalf("successor: %+v, %v", r2, err)
		}
	})
	t.Run("Grace", func(t *testing.T) {
		db := setup(t)
		now := t0.Add(time.Minute)
		first, _ := db.Rotate(ctx, rotateReq("t1", "t2", now))
		r, err := db.Rotate(ctx, rotateReq("t1", "other", now.Add(10*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RotateGrace || !bytes.Equal(r.SuccessorHash, first.SuccessorHash) || r.Grant != first.Grant ||
			!r.SuccessorExpiresAt.Equal(first.SuccessorExpiresAt) {
			t.Fatalf("grace %+v, first %+v", r, first)
		}
	})
	cases := []struct {
		name  string
		token string
		prep  func(t *testing.T, db *store.DB)
		at    time.Duration
		want  store.RotateStatus
	}{
		{"Unknown", "nope", nil, time.Minute, store.RotateUnknown},
		{"Expired", "t1", nil, time.Hour, store.RotateExpired},
		{"Reuse", "t1", func(t *testing.T, db *store.DB) {
			if _, err := db.Rotate(ctx, rotateReq("t1", "t2", t0)); err != nil {
				t.Fatal(err)
			}
		}, 11 * time.Second, store.RotateReuse},
		{"Revoked", "t1", func(t *testing.T, db *store.DB) {
			if _, err := db.RevokeSession(ctx, idAlice, sidA, "logout", t0); err != nil {
				t.Fatal(err)
			}
		}, time.Minute, store.RotateRevoked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			if tc.prep != nil {
				tc.prep(t, db)
			}
			r, err := db.Rotate(ctx, rotateReq(tc.token, "x", t0.Add(tc.at)))
			if err != nil || r.Status != tc.want {
				t.Fatalf("status %v, %v; want %v", r.Status, err, tc.want)
			}
		})
	}
	t.Run("Concurrent", func(t *testing.T) {
		db := setup(t)
		const n = 8
		var (
			wg   sync.WaitGroup
			out  = make([]store.Rotation, n)
			errs = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				out[i], errs[i] = db.Rotate(ctx, rotateReq("t1", "t2-"+string(rune('a'+i)), t0.Add(time.Minute)))
			})
		}
		wg.Wait()
		won := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("rotation %d: %v", i, errs[i])
			}
			if out[i].Status == store.Rotated {
				if won >= 0 {
					t.Fatalf("two rotations won: %d and %d", won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatal("no rotation won")
		}
		for i := range n {
			if i == won {
				continue
			}
			if out[i].Status != store.RotateGrace || !bytes.Equal(out[i].SuccessorHash, out[won].SuccessorHash) || out[i].Grant != out[won].Grant {
				t.Fatalf("rotation %d: %+v, winner %+v", i, out[i], out[won])
			}
		}
	})
}

func TestRevokeSessions(t *testing.T) { forEachEngine(t, testRevokeSessions) }

func testRevokeSessions(t *testing.T, e engine) {
	ctx := context.Background()
	setup := func(t *testing.T) *store.DB {
		db := e.open(t)
		mustCreate(t, db, idAlice, "alice")
		mustCreate(t, db, idBob, "bob")
		mustSession(t, db, idAlice, sidA, "a1")
		mustSession(t, db, idAlice, sidB, "b1")
		mustSession(t, db, idBob, sidC, "c1")
		return db
	}
	t.Run("One", func(t *testing.T) {
		db := setup(t)
		s, err := db.RevokeSession(ctx, idAlice, sidA, "logout", t0)
		if err != nil || s.RevokedAt.IsZero() || s.RevokeReason != "logout" {
			t.Fatalf("%+v, %v", s, err)
		}
		// Idempotent: the first reason stays.
		s, err = db.RevokeSession(ctx, idAlice, sidA, "session_revoked", t0.Add(time.Second))
		if err != nil || s.RevokeReason != "logout" || !s.RevokedAt.Equal(t0) {
			t.Fatalf("again: %+v, %v", s, err)
		}
		act, err := db.ActiveSessions(ctx, idAlice, t0)
		if err != nil || len(act) != 1 || act[0].ID != sidB {
			t.Fatalf("active %+v, %v", act, err)
		}
	})
	t.Run("ErrOtherUser", func(t *testing.T) {
		db := setup(t)
		if _, err := db.RevokeSession(ctx, idAlice, sidC, "logout", t0); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("err = %v", err)
		}
		if s, _ := db.Session(ctx, sidC); !s.RevokedAt.IsZero() {
			t.Fatal("bob's session revoked by alice")
		}
		if _, err := db.RevokeSession(ctx, idAlice, "5a1d0000-0000-4000-8000-00000000000f", "logout", t0); !errors.Is(err, store.ErrSessionNotFound) {
			t.Fatalf("unknown: err = %v", err)
		}
	})
	t.Run("AllButOne", func(t *testing.T) {
		db := setup(t)
		got, err := db.RevokeUserSessions(ctx, idAlice, sidA, "credential_change", t0)
		if err != nil || len(got) != 1 || got[0].ID != sidB || !got[0].AccessExpiresAt.Equal(t0.Add(15*time.Minute)) {
			t.Fatalf("%+v, %v", got, err)
		}
		// Not yet enforced: a retry returns it again; once marked, not.
		if again, _ := db.RevokeUserSessions(ctx, idAlice, sidA, "credential_change", t0); len(again) != 1 {
			t.Fatalf("retry: %+v", again)
		}
		if err := db.MarkRevocationEnforced(ctx, sidB); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.RevokeUserSessions(ctx, idAlice, sidA, "credential_change", t0); len(again) != 0 {
			t.Fatalf("after enforced: %+v", again)
		}
		if s, _ := db.Session(ctx, sidB); !s.RevocationEnforced {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("All", func(t *testing.T) {
		db := setup(t)
		got, err := db.RevokeUserSessions(ctx, idAlice, "", "logout_all", t0)
		if err != nil || len(got) != 2 {
			t.Fatalf("%+v, %v", got, err)
		}
		if act, _ := db.ActiveSessions(ctx, idAlice, t0); len(act) != 0 {
			t.Fatalf("active %+v", act)
		}
		if act, _ := db.ActiveSessions(ctx, idBob, t0); len(act) != 1 {
			t.Fatalf("bob's active %+v", act)
		}
	})
}

func TestSweep(t *testing.T) { forEachEngine(t, testSweep) }

func testSweep(t *testing.T, e engine) {
	ctx := context.Background()
	db := e.open(t)
	mustCreate(t, db, idAlice, "alice")
	mustSession(t, db, idAlice, sidA, "a1")
	n, err := db.Sweep(ctx, t0.Add(30*time.Minute), time.Minute, 100)
	if err != nil || n != 0 {
		t.Fatalf("early sweep: %d, %v", n, err)
	}
	n, err = db.Sweep(ctx, t0.Add(2*time.Hour), time.Minute, 100)
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if _, err := db.Session(ctx, sidA); !errors.Is(err, store.ErrSessionNotFound) {
		t.Fatalf("err = %v", err)
	}
	if r, _ := db.Rotate(ctx, rotateReq("a1", "x", t0)); r.Status != store.RotateUnknown {
		t.Fatalf("status %v", r.Status)
	}
}
