package password_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/password"
)

func cheap() password.Params {
	return password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
}

func mustNew(tb testing.TB, p password.Params, n int) *password.Hasher {
	tb.Helper()
	h, err := password.New(p, n)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := mustNew(t, cheap(), 0)
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", enc)
	}
	other, _ := h.Hash(ctx, "correct horse")
	if other == enc {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
	cases := []struct {
		name     string
		encoded  string
		password string
		want     error
	}{
		{"OK", enc, "correct horse", nil},
		{"ErrWrongPassword", enc, "correct horsE", password.ErrMismatch},
		{"ErrEmptyPassword", enc, "", password.ErrMismatch},
		{"ErrMalformedEmpty", "", "x", password.ErrMalformedHash},
		{"ErrMalformedBcrypt", "$2a$10$abcdefghijklmnopqrstuv", "x", password.ErrMalformedHash},
		{"ErrMalformedVersion", strings.Replace(enc, "v=19", "v=16", 1), "correct horse", password.ErrMalformedHash},
		{"ErrMalformedParams", strings.Replace(enc, "m=64,t=1,p=1", "m=64,t=1", 1), "correct horse", password.ErrMalformedHash},
		{"ErrHugeMemory", strings.Replace(enc, "m=64", "m=99999999", 1), "correct horse", password.ErrMalformedHash},
		{"ErrBadBase64", enc[:len(enc)-3] + "!!!", "correct horse", password.ErrMalformedHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h.Verify(ctx, tc.encoded, tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyOtherParams(t *testing.T) {
	ctx := context.Background()
	old := mustNew(t, password.Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2}, 1)
	enc, err := old.Hash(ctx, "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	h := mustNew(t, cheap(), 1)
	if err := h.Verify(ctx, enc, "s3cret-pass"); err != nil {
		t.Fatalf("hash made with other parameters does not verify: %v", err)
	}
	if !h.NeedsRehash(enc) {
		t.Fatal("NeedsRehash = false for other parameters")
	}
	own, _ := h.Hash(ctx, "x")
	if h.NeedsRehash(own) {
		t.Fatal("NeedsRehash = true for own parameters")
	}
}

func TestVerifyDummy(t *testing.T) {
	h := mustNew(t, cheap(), 1)
	for _, pw := range []string{"", "password", strings.Repeat("x", 256)} {
		if err := h.VerifyDummy(context.Background(), pw); !errors.Is(err, password.ErrMismatch) {
			t.Fatalf("VerifyDummy(%q) = %v", pw, err)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	cases := []struct {
		name string
		p    password.Params
		ok   bool
	}{
		{"OKDefault", password.DefaultParams(), true},
		{"OKCheap", cheap(), true},
		{"ErrZeroParallelism", password.Params{MemoryKiB: 64, Iterations: 1}, false},
		{"ErrZeroIterations", password.Params{MemoryKiB: 64, Parallelism: 1}, false},
		{"ErrMemoryBelow8p", password.Params{MemoryKiB: 15, Iterations: 1, Parallelism: 2}, false},
		{"ErrShortSalt", password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLength: 4}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := password.New(tc.p, 1)
			if (err == nil) != tc.ok {
				t.Fatalf("New err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSemaphore(t *testing.T) {
	h := mustNew(t, cheap(), 1)
	t.Run("ConcurrentHashesAllVerify", func(t *testing.T) {
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 8 {
			wg.Go(func() {
				enc, err := h.Hash(context.Background(), "pw")
				if err != nil || h.Verify(context.Background(), enc, "pw") != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d concurrent hashes failed", failed.Load())
		}
	})
}
