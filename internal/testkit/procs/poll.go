package procs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// WaitHTTPTimeout bounds WaitHTTP.
const WaitHTTPTimeout = 30 * time.Second

// Eventually polls cond every few milliseconds until it returns true or the
// timeout passes, then fails the test with msg.
func Eventually(tb testing.TB, timeout time.Duration, msg string, cond func() bool) {
	tb.Helper()
	if err := poll(context.Background(), timeout, 5*time.Millisecond, msg, cond); err != nil {
		tb.Fatalf("testkit: %v", err)
	}
}

// Poll calls cond every 10ms until it returns true, ctx ends or timeout
// passes; the error names what was awaited (and wraps ctx's error when ctx
// ended first).
func Poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	return poll(ctx, timeout, 10*time.Millisecond, what, cond)
}

func poll(ctx context.Context, timeout, every time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %s: %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return errors.Join(context.Cause(ctx), fmt.Errorf("interrupted waiting for %s", what))
		case <-ticker.C:
		}
	}
}

// HTTPStatus sends GET url (bounded by a second) and returns the status
// code.
func HTTPStatus(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("testkit: GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("testkit: GET %s: %w", url, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// PollHTTP polls GET url until it answers status, ctx ends or timeout
// passes.
func PollHTTP(ctx context.Context, timeout time.Duration, url string, status int) error {
	return Poll(ctx, timeout, fmt.Sprintf("GET %s answers %d", url, status), func() bool {
		code, err := HTTPStatus(ctx, url)
		return err == nil && code == status
	})
}

// WaitHTTP polls GET url until it answers status (a readiness probe:
// base+"/readyz", http.StatusOK), failing the test after WaitHTTPTimeout.
func WaitHTTP(tb testing.TB, url string, status int) {
	tb.Helper()
	if err := PollHTTP(context.Background(), WaitHTTPTimeout, url, status); err != nil {
		tb.Fatalf("testkit: %v", err)
	}
}
