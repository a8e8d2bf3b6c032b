package app

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(envOf(nil), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		NATSURL: "nats://127.0.0.1:4222", RedisURL: "redis://127.0.0.1:6379/0",
		LogLevel: slog.LevelInfo, LogFormat: "json", HTTPAddr: ":8080", MetricsAddr: "127.0.0.1:9080", DBPath: "auth.db",
		Issuer: "http://localhost:8080", Audience: "api", AccessTokenTTL: 15 * time.Minute,
		RefreshTokenTTL: 720 * time.Hour, RefreshReuseGrace: 10 * time.Second,
		RevocationWait: 3 * time.Second, PublishTimeout: 5 * time.Second, Argon2MemoryKiB: 65536, Argon2Iterations: 2, Argon2Parallelism: 2,
		LoginRateUser: ratelimit.Limit{Max: 10, Window: 15 * time.Minute}, LoginRateIP: ratelimit.Limit{Max: 30, Window: time.Minute},
		StreamMaxAge: 168 * time.Hour,
		InboxPrefix:  "_INBOX", ManageStream: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestParseConfigSources(t *testing.T) {
	env := map[string]string{
		"NATS_URL": "nats://n1:4222", "REDIS_URL": "redis://r1:6379/2", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
		"AUTH_HTTP_ADDR": ":9000", "AUTH_METRICS_ADDR": "10.0.0.5:9100", "AUTH_DB_PATH": "/tmp/x.db", "AUTH_SIGNING_KEY_FILE": "/k.pem",
		"AUTH_ISSUER": "https://iss", "AUTH_AUDIENCE": "aud", "AUTH_ACCESS_TOKEN_TTL": "5m",
		"AUTH_ACCEPT_LEGACY_TOKENS": "true", "AUTH_REVOCATION_WAIT": "300ms",
		"AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_ITERATIONS": "1", "AUTH_ARGON2_PARALLELISM": "1",
		"AUTH_STREAM_MAX_AGE": "1h", "AUTH_LOGIN_RATE_USER": "3/1m", "AUTH_LOGIN_RATE_IP": "off",
		"AUTH_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
	}
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"Env", env, nil, func(t *testing.T, c Config) {
			want := Config{NATSURL: "nats://n1:4222", RedisURL: "redis://r1:6379/2", LogLevel: slog.LevelDebug,
				LogFormat: "text", HTTPAddr: ":9000", MetricsAddr: "10.0.0.5:9100", DBPath: "/tmp/x.db", SigningKeyFile: "/k.pem",
				Issuer: "https://iss", Audience: "aud", AccessTokenTTL: 5 * time.Minute, AcceptLegacyTokens: true,
				RefreshTokenTTL: 720 * time.Hour, RefreshReuseGrace: 10 * time.Second,
				RevocationWait: 300 * time.Millisecond, PublishTimeout: 5 * time.Second, Argon2MemoryKiB: 64, Argon2Iterations: 1,
				Argon2Parallelism: 1, StreamMaxAge: time.Hour, InboxPrefix: "_INBOX", ManageStream: true,
				LoginRateUser:  ratelimit.Limit{Max: 3, Window: time.Minute},
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}}
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("\n got %+v\nwant %+v", c, want)
			}
		}},
		{"FlagsOverrideEnv", env, []string{"-http-addr", ":7000", "-metrics-addr", "127.0.0.1:7001", "--nats-url=nats://n2:4222", "-access-token-ttl", "10m",
			"-accept-legacy-tokens=false", "-argon2-memory-kib", "128", "-log-level", "warn"}, func(t *testing.T, c Config) {
			if c.HTTPAddr != ":7000" || c.MetricsAddr != "127.0.0.1:7001" || c.NATSURL != "nats://n2:4222" || c.AccessTokenTTL != 10*time.Minute ||
				c.AcceptLegacyTokens || c.Argon2MemoryKiB != 128 || c.LogLevel != slog.LevelWarn {
				t.Fatalf("flags not applied: %+v", c)
			}
			if c.RedisURL != "redis://r1:6379/2" {
				t.Fatalf("env lost where no flag was given: %+v", c)
			}
		}},
		{"BareBoolFlag", nil, []string{"-accept-legacy-tokens"}, func(t *testing.T, c Config) {
			if !c.AcceptLegacyTokens {
				t.Fatal("-accept-legacy-tokens did not set it")
			}
		}},
		{"AllFlagNames", nil, []string{"-redis-url", "redis://x:1/0", "-log-format", "text", "-db-path", "d.db",
			"-signing-key-file", "k", "-issuer", "i", "-audience", "a", "-revocation-wait", "1s",
			"-argon2-iterations", "3", "-argon2-parallelism", "4", "-stream-max-age", "2h"}, func(t *testing.T, c Config) {
			if c.RedisURL != "redis://x:1/0" || c.LogFormat != "text" || c.DBPath != "d.db" || c.SigningKeyFile != "k" ||
				c.Issuer != "i" || c.Audience != "a" || c.RevocationWait != time.Second || c.Argon2Iterations != 3 ||
				c.Argon2Parallelism != 4 || c.StreamMaxAge != 2*time.Hour {
				t.Fatalf("flags not applied: %+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(envOf(tc.env), tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseConfigInvalid(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		mention string
	}{
		{"ErrTTL", map[string]string{"AUTH_ACCESS_TOKEN_TTL": "soon"}, nil, "AUTH_ACCESS_TOKEN_TTL"},
		{"ErrTTLZero", map[string]string{"AUTH_ACCESS_TOKEN_TTL": "0s"}, nil, "AUTH_ACCESS_TOKEN_TTL"},
		{"ErrTTLFlag", nil, []string{"-access-token-ttl", "-5m"}, "AUTH_ACCESS_TOKEN_TTL"},
		{"ErrBool", map[string]string{"AUTH_ACCEPT_LEGACY_TOKENS": "maybe"}, nil, "AUTH_ACCEPT_LEGACY_TOKENS"},
		{"ErrWait", map[string]string{"AUTH_REVOCATION_WAIT": "3"}, nil, "AUTH_REVOCATION_WAIT"},
		{"ErrLogLevel", map[string]string{"LOG_LEVEL": "loud"}, nil, "LOG_LEVEL"},
		{"ErrLogFormat", map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		{"ErrRedisScheme", map[string]string{"REDIS_URL": "http://x"}, nil, "REDIS_URL"},
		{"ErrMemory", map[string]string{"AUTH_ARGON2_MEMORY_KIB": "lots"}, nil, "AUTH_ARGON2_MEMORY_KIB"},
		{"ErrMemoryBelowLanes", map[string]string{"AUTH_ARGON2_MEMORY_KIB": "16", "AUTH_ARGON2_PARALLELISM": "4"}, nil, "AUTH_ARGON2_MEMORY_KIB"},
		{"ErrIterations", map[string]string{"AUTH_ARGON2_ITERATIONS": "0"}, nil, "AUTH_ARGON2_ITERATIONS"},
		{"ErrParallelism", map[string]string{"AUTH_ARGON2_PARALLELISM": "256"}, nil, "AUTH_ARGON2_PARALLELISM"},
		{"ErrRateUser", map[string]string{"AUTH_LOGIN_RATE_USER": "10"}, nil, "AUTH_LOGIN_RATE_USER"},
		{"ErrRateUserZero", map[string]string{"AUTH_LOGIN_RATE_USER": "0/1m"}, nil, "AUTH_LOGIN_RATE_USER"},
		{"ErrRateIPWindow", map[string]string{"AUTH_LOGIN_RATE_IP": "10/1ms"}, nil, "AUTH_LOGIN_RATE_IP"},
		{"ErrTrustedProxies", map[string]string{"AUTH_TRUSTED_PROXIES": "proxy.internal"}, nil, "AUTH_TRUSTED_PROXIES"},
		{"ErrStreamAgeBelowTTL", map[string]string{"AUTH_STREAM_MAX_AGE": "10m"}, nil, "AUTH_STREAM_MAX_AGE"},
		{"ErrGraceNotBelowRefreshTTL", map[string]string{"AUTH_REFRESH_TOKEN_TTL": "1h", "AUTH_REFRESH_REUSE_GRACE": "1h"}, nil, "AUTH_REFRESH_REUSE_GRACE"},
		{"ErrNegativeGrace", map[string]string{"AUTH_REFRESH_REUSE_GRACE": "-1s"}, nil, "AUTH_REFRESH_REUSE_GRACE"},
		{"ErrRefreshTTLNotDuration", map[string]string{"AUTH_REFRESH_TOKEN_TTL": "forever"}, nil, "AUTH_REFRESH_TOKEN_TTL"},
		{"ErrEmptyIssuer", nil, []string{"-issuer="}, "AUTH_ISSUER"},
		{"ErrEmptyMetricsAddr", nil, []string{"-metrics-addr", " "}, "AUTH_METRICS_ADDR"},
		{"ErrUnknownFlag", nil, []string{"-bogus"}, "bogus"},
		{"ErrPositionalArg", nil, []string{"serve"}, "serve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(envOf(tc.env), tc.args, &bytes.Buffer{})
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("err = %v, want ErrUsage", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %s", err, tc.mention)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseConfig(envOf(nil), []string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	all := settings(&Config{})
	for _, s := range all.List {
		line := ""
		for l := range strings.Lines(out.String()) {
			if strings.Contains(l, "-"+all.FlagName(s)+" ") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, s.Env) || (s.Default != "" && !strings.Contains(line, s.Default)) {
			t.Errorf("--help has no line with -%s, %s and its default %q:\n%s", all.FlagName(s), s.Env, s.Default, out.String())
		}
	}
}
