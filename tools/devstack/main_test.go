package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// bins are bin/auth and bin/revocation, built once (or taken from
// EVENTJWT_BIN_DIR).
var bins = testkit.NewBinaries(testkit.ServicePackages...)

func TestMain(m *testing.M) { os.Exit(bins.Run(m)) }

// TestRun starts what `make run` starts, once with a real redis-server and
// once with the in-process stand-in, and walks the printed curl lines:
// register, login, me, logout, me again.
func TestRun(t *testing.T) {
	bin := bins.Dir(t)
	for _, mode := range []string{"server", "standin"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			authPort, revPort := testkit.FreePort(t), testkit.FreePort(t)
			authMetrics, revMetrics := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
			args := []string{
				"-dir", dir, "-nats-port", "0", "-redis", mode,
				"-auth-addr", fmt.Sprintf("127.0.0.1:%d", authPort),
				"-revocation-addr", fmt.Sprintf("127.0.0.1:%d", revPort),
				"-auth-metrics-addr", authMetrics, "-revocation-metrics-addr", revMetrics,
				"-auth-bin", filepath.Join(bin, "auth"), "-revocation-bin", filepath.Join(bin, "revocation"),
			}
			getenv := func(k string) string {
				if k == "REDIS_URL" {
					return ""
				}
				return os.Getenv(k)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stdout, stderr := &testkit.Buffer{}, &testkit.Buffer{}
			done := make(chan error, 1)
			go func() { done <- run(ctx, getenv, args, stdout, stderr) }()
			defer func() {
				if t.Failed() {
					t.Logf("stderr:\n%s", stderr.String())
				}
			}()

			var early error
			returned := false
			if err := testkit.Poll(context.Background(), 60*time.Second, "instructions printed", func() bool {
				if strings.Contains(stdout.String(), "Try it") {
					return true
				}
				select {
				case early = <-done:
					returned = true
					return true
				default:
					return false
				}
			}); err != nil {
				cancel()
				t.Fatal(err)
			}
			if returned {
				cancel()
				t.Fatalf("run returned early: %v", early)
			}
			if mode == "standin" && !strings.Contains(stderr.String(), "STAND-IN") {
				t.Errorf("the stand-in was not announced loudly")
			}
			base := fmt.Sprintf("http://127.0.0.1:%d", authPort)
			metricsURLs := []string{"http://" + authMetrics + "/metrics", "http://" + revMetrics + "/metrics"}
			for _, u := range append([]string{base}, metricsURLs...) {
				if !strings.Contains(stdout.String(), u) {
					t.Errorf("instructions do not name %s:\n%s", u, stdout.String())
				}
			}
			tryIt(t, base)
			for _, u := range []string{base + "/metrics", fmt.Sprintf("http://127.0.0.1:%d/metrics", revPort)} {
				if st, b := call(t, http.MethodGet, u, "", ""); st != http.StatusNotFound {
					t.Errorf("%s on an API listener: %d %s, want 404", u, st, b)
				}
			}
			if st, b := call(t, http.MethodGet, metricsURLs[0], "", ""); st != http.StatusOK ||
				!strings.Contains(b, `auth_logout_outcomes_total{endpoint="logout",status="204"} 1`) {
				t.Errorf("%s: %d, without the logout counted:\n%.2000s", metricsURLs[0], st, b)
			}
			if st, b := call(t, http.MethodGet, metricsURLs[1], "", ""); st != http.StatusOK || !strings.Contains(b, "revocation_checkpoint") {
				t.Errorf("%s: %d %.500s", metricsURLs[1], st, b)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("run did not stop within 30s of cancel")
			}
		})
	}
}

func tryIt(t *testing.T, base string) {
	t.Helper()
	body := `{"username":"alice","password":"correct horse battery"}`
	if st, b := call(t, http.MethodPost, base+"/v1/auth/register", "", body); st != http.StatusCreated {
		t.Fatalf("register: %d %s", st, b)
	}
	st, b := call(t, http.MethodPost, base+"/v1/auth/login", "", body)
	if st != http.StatusOK {
		t.Fatalf("login: %d %s", st, b)
	}
	_, rest, _ := strings.Cut(b, `"access_token":"`)
	token, _, _ := strings.Cut(rest, `"`)
	if st, b := call(t, http.MethodGet, base+"/v1/auth/me", token, ""); st != http.StatusOK {
		t.Fatalf("me: %d %s", st, b)
	}
	if st, b := call(t, http.MethodPost, base+"/v1/auth/logout", token, ""); st != http.StatusNoContent {
		t.Fatalf("logout: %d %s", st, b)
	}
	if st, b := call(t, http.MethodGet, base+"/v1/auth/me", token, ""); st != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d %s", st, b)
	}
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(func(string) string { return "redis://example:6379/0" }, nil, io.Discard)
	if err != nil || c.redisURL != "redis://example:6379/0" || c.authAddr != ":8080" || c.issuer != "http://127.0.0.1:8080" ||
		c.authMetricsAddr != "127.0.0.1:9080" || c.revocationMetricsAddr != "127.0.0.1:9081" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, args := range [][]string{{"-auth-metrics-addr", ":9080"}, {"-revocation-metrics-addr", "0.0.0.0:9081"}, {"-auth-metrics-addr", "192.0.2.1:9080"}} {
		if _, err := parseConfig(func(string) string { return "" }, args, io.Discard); err == nil {
			t.Errorf("%v accepted: metrics must stay on loopback", args)
		}
	}
	if _, err := parseConfig(func(string) string { return "" }, []string{"-auth-metrics-addr", "[::1]:0", "-revocation-metrics-addr", "localhost:0"}, io.Discard); err != nil {
		t.Errorf("loopback metrics addresses refused: %v", err)
	}
	if _, err := parseConfig(func(string) string { return "" }, []string{"-redis", "memcached"}, io.Discard); err == nil {
		t.Fatalf("-redis memcached accepted")
	}
}
