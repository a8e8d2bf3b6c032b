package jwtx_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

func TestValidator_IssuedClaims(t *testing.T) {
	k := fixedKit(t)
	tok, want, err := k.Signer.Issue(testSub, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Validator(t, nil).Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got, cmpopts.IgnoreUnexported(jwtx.Claims{})); diff != "" {
		t.Errorf("parsed claims differ from issued (-issued +parsed):\n%s", diff)
	}
}

func TestValidator_ErrorsDoNotEchoInput(t *testing.T) {
	k := fixedKit(t)
	long := strings.Repeat("X", 2000)
	for name, tok := range map[string]string{
		"alg": kitToken(k, map[string]any{"alg": long}, nil),
		"typ": kitToken(k, map[string]any{"typ": long}, nil),
		"kid": kitToken(k, map[string]any{"kid": long}, nil),
		"iss": kitToken(k, nil, map[string]any{"iss": long}),
		"sub": kitToken(k, nil, map[string]any{"sub": long}),
	} {
		_, err := k.Validator(t, nil).Parse(tok)
		if err == nil || len(err.Error()) > 160 || strings.Contains(err.Error(), strings.Repeat("X", 50)) {
			t.Errorf("%s: error %q echoes the input or is missing", name, err)
		}
	}
}

func TestValidator_Leeway(t *testing.T) {
	k := fixedKit(t)
	tok := kitToken(k, nil, map[string]any{"exp": now.Add(-10 * time.Second).Unix()})
	tests := []struct {
		name   string
		leeway time.Duration
		want   error
	}{
		{name: "Default", leeway: 0},
		{name: "Wider", leeway: time.Minute},
		{name: "Narrower", leeway: 5 * time.Second, want: jwtx.ErrExpired},
		{name: "NegativeMeansNone", leeway: -1, want: jwtx.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.Config(nil)
			cfg.Leeway = tc.leeway
			_, err := mustValidator(t, cfg).Parse(tok)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidator_MaxTokenSize(t *testing.T) {
	k := fixedKit(t)
	tok := k.Token(t, testSub, 0)
	cfg := k.Config(nil)
	cfg.MaxTokenSize = len(tok)
	if _, err := mustValidator(t, cfg).Parse(tok); err != nil {
		t.Errorf("token of exactly MaxTokenSize: %v", err)
	}
	cfg.MaxTokenSize = len(tok) - 1
	if _, err := mustValidator(t, cfg).Parse(tok); !errors.Is(err, jwtx.ErrTokenTooLarge) {
		t.Errorf("token of MaxTokenSize+1: %v, want ErrTokenTooLarge", err)
	}
}

func TestValidator_KeyRotation(t *testing.T) {
	k := fixedKit(t)
	old := jwtxtest.New(t, jwtxtest.WithNow(k.Now))
	kid := k.Keys.Add(old.Signer.PublicKey())
	v := k.Validator(t, nil)
	tok := old.Token(t, testSub, 0)
	if _, err := v.Parse(tok); err != nil {
		t.Fatalf("token of an added key: %v", err)
	}
	k.Keys.Remove(kid)
	if _, err := v.Parse(tok); !errors.Is(err, jwtx.ErrUnknownKey) {
		t.Fatalf("token of a removed key: %v, want ErrUnknownKey", err)
	}
}

func TestNewValidator_Config(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	tests := []struct {
		name   string
		change func(*jwtx.Config)
		ok     bool
	}{
		{name: "OK", change: func(*jwtx.Config) {}, ok: true},
		{name: "OKDisabledRevocation", change: func(c *jwtx.Config) { c.Revocation, c.DisableRevocationCheck = nil, true }, ok: true},
		{name: "ErrKeysRequired", change: func(c *jwtx.Config) { c.Keys = nil }},
		{name: "ErrIssuerRequired", change: func(c *jwtx.Config) { c.Issuer = "" }},
		{name: "ErrAudienceRequired", change: func(c *jwtx.Config) { c.Audience = "" }},
		{name: "ErrRevocationRequired", change: func(c *jwtx.Config) { c.Revocation = nil }},
		{name: "ErrStoreAndDisabled", change: func(c *jwtx.Config) { c.DisableRevocationCheck = true }},
		{name: "ErrNegativeTimeout", change: func(c *jwtx.Config) { c.RevocationTimeout = -1 }},
		{name: "ErrNegativeSize", change: func(c *jwtx.Config) { c.MaxTokenSize = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.Config(store)
			tc.change(&cfg)
			_, err := jwtx.NewValidator(cfg)
			if (err == nil) != tc.ok {
				t.Errorf("NewValidator error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestValidator_ConcurrentUseAndRotation(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	cfg := k.Config(store)
	cfg.RevocationTimeout = time.Minute // this test is about races, not time
	v := mustValidator(t, cfg)
	tok := k.Token(t, testSub, 0)
	other := jwtxtest.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Validate(context.Background(), tok); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			kid := k.Keys.Add(other.Signer.PublicKey())
			store.SetUserVersion(testJTI, 1)
			k.Keys.Remove(kid)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
