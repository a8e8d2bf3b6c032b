package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
)

type testConfig struct {
	service.Common
	Addr   string
	Manage bool
	Wait   time.Duration
}

func settings(c *testConfig) service.Settings {
	return service.Settings{
		Name: "test", About: "A test service.", TrimPrefixes: []string{"TEST_"},
		List: append([]service.Setting{
			service.NATSURLSetting(&c.NATSURL),
			service.RedisURLSetting(&c.RedisURL, ""),
		}, append(c.Log(),
			service.InboxPrefixSetting(&c.InboxPrefix, "test"),
			service.Setting{Env: "TEST_HTTP_ADDR", Default: ":8080", Help: "listen address", Apply: service.String(&c.Addr, true)},
			service.Setting{Env: "TEST_MANAGE_STREAM", Default: "true", Bool: true, Help: "manage", Apply: service.Bool(&c.Manage)},
			service.Setting{Env: "TEST_WAIT", Default: "3s", Help: "wait", Apply: service.Duration(&c.Wait, time.Millisecond)},
		)...),
	}
}

func parse(env map[string]string, args ...string) (testConfig, error) {
	var c testConfig
	err := settings(&c).Parse(func(k string) string { return env[k] }, args, &bytes.Buffer{})
	return c, err
}

func TestParse(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := parse(nil)
		want := testConfig{Common: service.Common{NATSURL: "nats://127.0.0.1:4222", RedisURL: "redis://127.0.0.1:6379/0",
			LogLevel: slog.LevelInfo, LogFormat: "json", InboxPrefix: "_INBOX"}, Addr: ":8080", Manage: true, Wait: 3 * time.Second}
		if err != nil || c != want {
			t.Fatalf("Parse = %+v, %v; want %+v", c, err, want)
		}
	})
	t.Run("FlagWinsOverEnv", func(t *testing.T) {
		c, err := parse(map[string]string{"TEST_HTTP_ADDR": ":1", "LOG_LEVEL": "WARN", "LOG_FORMAT": "Text"}, "-http-addr", ":2")
		if err != nil || c.Addr != ":2" || c.LogLevel != slog.LevelWarn || c.LogFormat != "text" {
			t.Fatalf("Parse = %+v, %v", c, err)
		}
	})
	t.Run("BareBoolFlag", func(t *testing.T) {
		c, err := parse(map[string]string{"TEST_MANAGE_STREAM": "false"}, "-manage-stream")
		if err != nil || !c.Manage {
			t.Fatalf("Parse = %+v, %v", c, err)
		}
		c, err = parse(nil, "-manage-stream=false")
		if err != nil || c.Manage {
			t.Fatalf("Parse = %+v, %v", c, err)
		}
	})
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"ErrLogLevelOffset": {map[string]string{"LOG_LEVEL": "info+2"}, nil, `invalid LOG_LEVEL "info+2" (from LOG_LEVEL)`},
		"ErrLogFormat":      {map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		"ErrRedisScheme":    {map[string]string{"REDIS_URL": "http://x"}, nil, "REDIS_URL"},
		"ErrInbox":          {nil, []string{"-nats-inbox-prefix", "a.*"}, `(from -nats-inbox-prefix)`},
		"ErrBool":           {map[string]string{"TEST_MANAGE_STREAM": "yes"}, nil, "want true or false"},
		"ErrDuration":       {map[string]string{"TEST_WAIT": "0s"}, nil, "at least 1ms"},
		"ErrEmpty":          {nil, []string{"-http-addr="}, "must not be empty"},
		"ErrUnknownFlag":    {nil, []string{"-nope"}, "see --help"},
		"ErrArgument":       {nil, []string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.env, tc.args...)
			if !errors.Is(err, service.ErrUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrUsage containing %q", err, tc.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var c testConfig
	var out bytes.Buffer
	err := settings(&c).Parse(func(string) string { return "" }, []string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: test [flags]", "A test service.", "-http-addr", "TEST_HTTP_ADDR", ":8080", "-manage-stream", "-nats-url", "NATS_URL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReady(t *testing.T) {
	pass := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errors.New("down") }
	t.Run("OK", func(t *testing.T) {
		rec := httptest.NewRecorder()
		service.Ready([]service.Check{{Name: "nats", Fn: pass}, {Name: "redis", Fn: pass}}, 0, nil, false)(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusOK || body["status"] != "ready" || body["checks"].(map[string]any)["nats"] != "ok" || body["error"] != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("ErrOneCheck", func(t *testing.T) {
		rec := httptest.NewRecorder()
		service.Ready([]service.Check{{Name: "nats", Fn: fail}, {Name: "redis", Fn: pass}}, 0, nil, false)(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusServiceUnavailable || len(body) != 2 || body["error"] != "not_ready" || body["message"] != "unavailable: nats" ||
			rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("ErrDetail", func(t *testing.T) {
		rec := httptest.NewRecorder()
		service.Ready([]service.Check{{Name: "ingest", Fn: fail}}, 0, nil, true)(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusServiceUnavailable || body["message"] != "unavailable: ingest: down" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	service.WriteError(rec, http.StatusNotFound, "not_found", "no such route")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" ||
		strings.TrimSpace(rec.Body.String()) != `{"error":"not_found","message":"no such route"}` {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestNewHTTPServer(t *testing.T) {
	srv := service.NewHTTPServer(http.NotFoundHandler(), service.HTTPLimits{WriteTimeout: time.Minute}, slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout != service.DefaultReadHeaderTimeout || srv.ReadTimeout != service.DefaultReadTimeout ||
		srv.WriteTimeout != time.Minute || srv.IdleTimeout != service.DefaultIdleTimeout || srv.MaxHeaderBytes != service.DefaultMaxHeaderBytes || srv.ErrorLog == nil {
		t.Fatalf("%+v", srv)
	}
}

func TestExitCode(t *testing.T) {
	for err, want := range map[error]int{
		nil: 0, flag.ErrHelp: 0, fmt.Errorf("%w: bad", service.ErrUsage): 2, errors.New("nats: down"): 1,
	} {
		if got := service.ExitCode(err); got != want {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestServers(t *testing.T) {
	api := service.NewHTTPServer(http.HandlerFunc(service.Health), service.HTTPLimits{}, nil)
	metrics := service.NewHTTPServer(http.NotFoundHandler(), service.HTTPLimits{}, nil)
	srv, err := service.Listen(t.Context(),
		service.Listener{Env: "T_HTTP_ADDR", Addr: "127.0.0.1:0", Server: api},
		service.Listener{Env: "T_METRICS_ADDR", Addr: "127.0.0.1:0", Server: metrics})
	if err != nil {
		t.Fatal(err)
	}
	errc := srv.Serve()
	res, err := http.Get("http://" + srv.Addr(0) + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", res, err)
	}
	_ = res.Body.Close()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res, err := http.Get("http://" + srv.Addr(1) + "/"); err == nil {
		_ = res.Body.Close()
		t.Fatal("the metrics listener still answers after Shutdown")
	}
	select {
	case err := <-errc:
		t.Fatalf("a server reported %v after a graceful Shutdown", err)
	default:
	}
	t.Run("ErrAddressInUse", func(t *testing.T) {
		first, err := service.Listen(t.Context(), service.Listener{Env: "A", Addr: "127.0.0.1:0", Server: &http.Server{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = first.Shutdown(t.Context()) }()
		_, err = service.Listen(t.Context(),
			service.Listener{Env: "B", Addr: "127.0.0.1:0", Server: &http.Server{}},
			service.Listener{Env: "C_HTTP_ADDR", Addr: first.Addr(0), Server: &http.Server{}})
		if err == nil || !strings.Contains(err.Error(), "C_HTTP_ADDR") {
			t.Fatalf("err = %v, want one naming C_HTTP_ADDR", err)
		}
	})
}
