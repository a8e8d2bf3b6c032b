package jwtx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

func TestValidate_RevocationDecision(t *testing.T) {
	k := fixedKit(t)
	errStore := errors.New("store down")
	legacy := kitToken(k, nil, map[string]any{"jti": nil, "ver": nil})
	tests := []struct {
		name    string
		token   string
		setup   func(*jwtxtest.MemoryStore)
		want    error // nil: accepted
		wantToo error // also matched, when set
	}{
		{name: "OK", token: kitToken(k, nil, nil), setup: func(*jwtxtest.MemoryStore) {}},
		{name: "OKOtherTokenRevoked", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) { m.RevokeToken(testSub) }},
		{name: "OKVersionEqual", token: kitToken(k, nil, map[string]any{"ver": 3}), setup: func(m *jwtxtest.MemoryStore) { m.SetUserVersion(testSub, 3) }},
		{name: "OKVersionAbove", token: kitToken(k, nil, map[string]any{"ver": 4}), setup: func(m *jwtxtest.MemoryStore) { m.SetUserVersion(testSub, 3) }},
		{name: "OKOtherUserVersion", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) { m.SetUserVersion(testJTI, 9) }},
		{name: "RevokedJTI", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) { m.RevokeToken(testJTI) }, want: jwtx.ErrRevoked},
		{name: "RevokedVersionBelow", token: kitToken(k, nil, map[string]any{"ver": 2}), setup: func(m *jwtxtest.MemoryStore) { m.SetUserVersion(testSub, 3) }, want: jwtx.ErrRevoked},
		{name: "UnavailableNotInitialized", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) { m.SetInitialized(false) }, want: jwtx.ErrRevocationUnavailable},
		{name: "UnavailableNotInitializedEvenIfRevoked", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) {
			m.SetInitialized(false)
			m.RevokeToken(testJTI)
		}, want: jwtx.ErrRevocationUnavailable},
		{name: "UnavailableStoreError", token: kitToken(k, nil, nil), setup: func(m *jwtxtest.MemoryStore) { m.FailWith(errStore) }, want: jwtx.ErrRevocationUnavailable, wantToo: errStore},
		{name: "LegacyOK", token: legacy, setup: func(*jwtxtest.MemoryStore) {}},
		{name: "LegacyRevokedByUserVersion", token: legacy, setup: func(m *jwtxtest.MemoryStore) { m.SetUserVersion(testSub, 1) }, want: jwtx.ErrRevoked},
		{name: "LegacyUnavailable", token: legacy, setup: func(m *jwtxtest.MemoryStore) { m.SetInitialized(false) }, want: jwtx.ErrRevocationUnavailable},
		{name: "InvalidTokenNoStoreCall", token: kitToken(k, nil, map[string]any{"iss": "x"}), setup: func(m *jwtxtest.MemoryStore) { m.FailWith(errStore) }, want: jwtx.ErrInvalidToken},
	}
	distinct := []error{jwtx.ErrInvalidToken, jwtx.ErrRevoked, jwtx.ErrRevocationUnavailable}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := jwtxtest.NewMemoryStore()
			tc.setup(store)
			cfg := k.Config(store)
			cfg.AcceptLegacy = true
			c, err := mustValidator(t, cfg).Validate(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil || c == nil {
					t.Fatalf("Validate = %v, want success", err)
				}
				return
			}
			if c != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, %v; want %v", c, err, tc.want)
			}
			if tc.wantToo != nil && !errors.Is(err, tc.wantToo) {
				t.Errorf("Validate error %v does not wrap %v", err, tc.wantToo)
			}
			for _, other := range distinct {
				if !errors.Is(tc.want, other) && errors.Is(err, other) {
					t.Errorf("Validate error %v also matches %v", err, other)
				}
			}
			if errors.Is(tc.want, jwtx.ErrInvalidToken) && store.Calls() != 0 {
				t.Errorf("store called %d times for an invalid token", store.Calls())
			}
		})
	}
}

func TestSentinels_Distinct(t *testing.T) {
	if errors.Is(jwtx.ErrRevoked, jwtx.ErrRevocationUnavailable) || errors.Is(jwtx.ErrRevocationUnavailable, jwtx.ErrRevoked) {
		t.Error("ErrRevoked and ErrRevocationUnavailable match each other")
	}
	if errors.Is(jwtx.ErrRevoked, jwtx.ErrInvalidToken) || errors.Is(jwtx.ErrRevocationUnavailable, jwtx.ErrInvalidToken) {
		t.Error("a revocation sentinel matches ErrInvalidToken")
	}
	for _, err := range []error{jwtx.ErrMissingToken, jwtx.ErrMalformedToken, jwtx.ErrTokenTooLarge, jwtx.ErrUnknownKey,
		jwtx.ErrBadSignature, jwtx.ErrExpired, jwtx.ErrNotYetValid, jwtx.ErrLegacyToken} {
		if !errors.Is(err, jwtx.ErrInvalidToken) {
			t.Errorf("%v does not match ErrInvalidToken", err)
		}
	}
	if errors.Is(jwtx.ErrExpired, jwtx.ErrMissingToken) {
		t.Error("fine sentinels match each other")
	}
}

func TestParse_NoStoreCall(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	store.FailWith(errors.New("down"))
	if _, err := k.Validator(t, store).Parse(k.Token(t, testSub, 0)); err != nil {
		t.Fatalf("Parse during a store outage: %v", err)
	}
	if store.Calls() != 0 {
		t.Errorf("Parse called the store %d times", store.Calls())
	}
}

func TestValidate_DisabledRevocationCheck(t *testing.T) {
	k := fixedKit(t)
	if _, err := k.Validator(t, nil).Validate(context.Background(), k.Token(t, testSub, 0)); err != nil {
		t.Fatal(err)
	}
}

// blockingStore never answers: it waits for the context, as a hung Redis.
// It reports the deadline of the context it got (zero when none).
type blockingStore struct{ deadline chan time.Time }

func (b *blockingStore) RevocationState(ctx context.Context, _ jwtx.RevocationQuery) (jwtx.RevocationState, error) {
	d, _ := ctx.Deadline()
	b.deadline <- d
	<-ctx.Done()
	return jwtx.RevocationState{}, ctx.Err()
}

func TestValidate_RevocationTimeout(t *testing.T) {
	k := fixedKit(t)
	store := &blockingStore{deadline: make(chan time.Time, 1)}
	cfg := k.Config(store)
	cfg.RevocationTimeout = 50 * time.Millisecond
	v := mustValidator(t, cfg)
	start := time.Now()
	_, err := v.Validate(context.Background(), k.Token(t, testSub, 0))
	elapsed := time.Since(start)
	if !errors.Is(err, jwtx.ErrRevocationUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Validate = %v, want ErrRevocationUnavailable wrapping the deadline", err)
	}
	if d := <-store.deadline; !d.After(start) || d.After(start.Add(elapsed)) {
		t.Errorf("store context deadline %v, want between the start %v and the end of Validate", d, start)
	}
	if elapsed > time.Second {
		t.Errorf("Validate took %s with a %s budget", elapsed, cfg.RevocationTimeout)
	}
}

func TestValidate_CallerCancelled(t *testing.T) {
	k := fixedKit(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := k.Validator(t, jwtxtest.NewMemoryStore()).Validate(ctx, k.Token(t, testSub, 0))
	if !errors.Is(err, jwtx.ErrRevocationUnavailable) {
		t.Fatalf("Validate with a cancelled context = %v, want ErrRevocationUnavailable", err)
	}
}
