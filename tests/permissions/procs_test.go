package permissions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// bins are bin/auth and bin/revocation, built on first use (or taken from
// EVENTJWT_BIN_DIR, as in tests/integration).
var bins = testkit.NewBinaries(testkit.ServicePackages...)

func TestMain(m *testing.M) {
	code := bins.Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startProc runs the named binary with env added to the environment; it is
// stopped (SIGTERM, then SIGKILL) when the test ends, and its output is
// logged if the test failed.
func startProc(tb testing.TB, name string, env []string) *testkit.Proc {
	tb.Helper()
	return testkit.StartProc(tb, name, bins.Path(tb, name), env...)
}

// waitReady polls base+"/readyz" until it answers 200.
func waitReady(tb testing.TB, base string) {
	tb.Helper()
	testkit.WaitHTTP(tb, base+"/readyz", http.StatusOK)
}

// response is what call returns.
type response struct {
	status int
	body   []byte
}

// call sends an HTTP request with an optional bearer token and JSON body.
func call(method, url, token string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, fmt.Errorf("request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// mustCall is call that fails the test on a transport error or a status
// other than want, and decodes the JSON answer into out when not nil.
func mustCall(tb testing.TB, want int, method, url, token string, body, out any) {
	tb.Helper()
	resp, err := call(method, url, token, body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.status != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, url, resp.status, resp.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, url, resp.body, err)
		}
	}
}
