package config_test

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseDefaults(t *testing.T) {
	got, err := config.Parse(env(nil), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Config{
		NATSURL:          "nats://127.0.0.1:4222",
		RedisURL:         "redis://127.0.0.1:6379/0",
		LogLevel:         slog.LevelInfo,
		LogFormat:        "json",
		HTTPAddr:         ":8081",
		MetricsAddr:      "127.0.0.1:9081",
		Durable:          "revocation",
		MaxTokenTTL:      24 * time.Hour,
		Leeway:           time.Minute,
		BatchSize:        256,
		CheckInterval:    time.Second,
		StreamMaxAge:     168 * time.Hour,
		AckWait:          30 * time.Second,
		ReadyMaxPending:  1000,
		InboxPrefix:      "_INBOX",
		ManageStream:     true,
		PinnedTTL:        5 * time.Second,
		RedisWaitTimeout: time.Second,
	}
	if got != want {
		t.Fatalf("Parse() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseEnvironment(t *testing.T) {
	got, err := config.Parse(env(map[string]string{
		"NATS_URL":                       "nats://nats:4222",
		"REDIS_URL":                      "redis://redis:6379/2",
		"LOG_LEVEL":                      "DEBUG",
		"LOG_FORMAT":                     "text",
		"REVOCATION_HTTP_ADDR":           "127.0.0.1:9000",
		"REVOCATION_METRICS_ADDR":        "10.0.0.5:9100",
		"REVOCATION_PPROF_ADDR":          "127.0.0.1:6060",
		"REVOCATION_DURABLE":             "rev-2",
		"REVOCATION_MAX_TOKEN_TTL":       "1h",
		"REVOCATION_LEEWAY":              "45s",
		"REVOCATION_BATCH_SIZE":          "64",
		"REVOCATION_CHECK_INTERVAL":      "250ms",
		"REVOCATION_STREAM_MAX_AGE":      "48h",
		"REVOCATION_ACK_WAIT":            "10s",
		"REVOCATION_READY_MAX_PENDING":   "0",
		"NATS_INBOX_PREFIX":              "_INBOX_revocation",
		"REVOCATION_MANAGE_STREAM":       "false",
		"REVOCATION_PINNED_TTL":          "3s",
		"REVOCATION_REDIS_WAIT_REPLICAS": "2",
		"REVOCATION_REDIS_WAIT_TIMEOUT":  "250ms",
	}), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := config.Config{
		NATSURL: "nats://nats:4222", RedisURL: "redis://redis:6379/2",
		LogLevel: slog.LevelDebug, LogFormat: "text", HTTPAddr: "127.0.0.1:9000", MetricsAddr: "10.0.0.5:9100", PprofAddr: "127.0.0.1:6060",
		Durable: "rev-2", MaxTokenTTL: time.Hour, Leeway: 45 * time.Second,
		BatchSize: 64, CheckInterval: 250 * time.Millisecond, StreamMaxAge: 48 * time.Hour,
		AckWait: 10 * time.Second, ReadyMaxPending: 0,
		InboxPrefix: "_INBOX_revocation", ManageStream: false, PinnedTTL: 3 * time.Second,
		RedisWaitReplicas: "2", RedisWaitTimeout: 250 * time.Millisecond,
	}
	if got != want {
		t.Fatalf("Parse() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseFlagOverridesEnvironment(t *testing.T) {
	got, err := config.Parse(env(map[string]string{
		"NATS_URL":              "nats://from-env:4222",
		"REVOCATION_BATCH_SIZE": "64",
		"REVOCATION_HTTP_ADDR":  ":1",
	}), []string{"-nats-url", "nats://from-flag:4222", "--batch-size=8", "-http-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.NATSURL != "nats://from-flag:4222" || got.BatchSize != 8 || got.HTTPAddr != "127.0.0.1:0" || got.MetricsAddr != "127.0.0.1:0" {
		t.Fatalf("flags did not win: %+v", got)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // substring of the error
	}{
		{"ErrDurationSyntax", map[string]string{"REVOCATION_ACK_WAIT": "soon"}, nil, "REVOCATION_ACK_WAIT"},
		{"ErrAckWaitTooShort", map[string]string{"REVOCATION_ACK_WAIT": "10ms"}, nil, "REVOCATION_ACK_WAIT"},
		{"ErrNegativeDuration", map[string]string{"REVOCATION_CHECK_INTERVAL": "-1s"}, nil, "REVOCATION_CHECK_INTERVAL"},
		{"ErrLeewayBelowValidators", map[string]string{"REVOCATION_LEEWAY": "10s"}, nil, "REVOCATION_LEEWAY"},
		{"ErrBatchSizeZero", map[string]string{"REVOCATION_BATCH_SIZE": "0"}, nil, "REVOCATION_BATCH_SIZE"},
		{"ErrBatchSizeNotInt", map[string]string{"REVOCATION_BATCH_SIZE": "12abc"}, nil, "REVOCATION_BATCH_SIZE"},
		{"ErrPendingNegative", map[string]string{"REVOCATION_READY_MAX_PENDING": "-1"}, nil, "REVOCATION_READY_MAX_PENDING"},
		{"ErrLogLevel", map[string]string{"LOG_LEVEL": "verbose"}, nil, "LOG_LEVEL"},
		{"ErrLogFormat", map[string]string{"LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		{"ErrRedisURL", map[string]string{"REDIS_URL": "http://x"}, nil, "REDIS_URL"},
		{"ErrDurableName", map[string]string{"REVOCATION_DURABLE": "a.b"}, nil, "REVOCATION_DURABLE"},
		{"ErrStreamShorterThanTokens", map[string]string{"REVOCATION_STREAM_MAX_AGE": "1h"}, nil, "REVOCATION_STREAM_MAX_AGE"},
		{"ErrInvalidFlagValueNamesVariable", nil, []string{"-leeway", "abc"}, `invalid REVOCATION_LEEWAY "abc" (from -leeway)`},
		{"ErrUnknownFlag", nil, []string{"-nope"}, "nope"},
		{"ErrPositionalArgument", nil, []string{"extra"}, "extra"},
		{"ErrInboxPrefixWildcard", map[string]string{"NATS_INBOX_PREFIX": "_INBOX.>"}, nil, "NATS_INBOX_PREFIX"},
		{"ErrInboxPrefixTrailingDot", map[string]string{"NATS_INBOX_PREFIX": "_INBOX_revocation."}, nil, "NATS_INBOX_PREFIX"},
		{"ErrEmptyMetricsAddr", map[string]string{"REVOCATION_METRICS_ADDR": " "}, nil, "REVOCATION_METRICS_ADDR"},
		{"ErrManageStream", map[string]string{"REVOCATION_MANAGE_STREAM": "maybe"}, nil, "REVOCATION_MANAGE_STREAM"},
		{"ErrPinnedTTLTooShort", map[string]string{"REVOCATION_PINNED_TTL": "1s"}, nil, "REVOCATION_PINNED_TTL"},
		{"ErrWaitReplicas", map[string]string{"REVOCATION_REDIS_WAIT_REPLICAS": "6"}, nil, "REVOCATION_REDIS_WAIT_REPLICAS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(env(tt.env), tt.args, &bytes.Buffer{})
			if !errors.Is(err, config.ErrUsage) {
				t.Fatalf("Parse error = %v, want ErrUsage", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := config.Parse(env(nil), []string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-nats-url", "NATS_URL", "nats://127.0.0.1:4222",
		"-redis-url", "REDIS_URL", "-log-level", "LOG_LEVEL", "-log-format", "LOG_FORMAT",
		"-http-addr", "REVOCATION_HTTP_ADDR", ":8081", "-durable", "REVOCATION_DURABLE",
		"-metrics-addr", "REVOCATION_METRICS_ADDR", "127.0.0.1:9081", "-pprof-addr", "REVOCATION_PPROF_ADDR",
		"-max-token-ttl", "REVOCATION_MAX_TOKEN_TTL", "24h", "-leeway", "REVOCATION_LEEWAY",
		"-batch-size", "REVOCATION_BATCH_SIZE", "256", "-check-interval", "REVOCATION_CHECK_INTERVAL",
		"-stream-max-age", "REVOCATION_STREAM_MAX_AGE", "168h", "-ack-wait", "REVOCATION_ACK_WAIT",
		"-ready-max-pending", "REVOCATION_READY_MAX_PENDING", "1000",
		"-pinned-ttl", "REVOCATION_PINNED_TTL", "5s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %s:\n%s", want, out.String())
		}
	}
}

func TestFlagName(t *testing.T) {
	for env, want := range map[string]string{
		"NATS_URL":                     "nats-url",
		"REVOCATION_HTTP_ADDR":         "http-addr",
		"REVOCATION_READY_MAX_PENDING": "ready-max-pending",
	} {
		if got := config.FlagName(env); got != want {
			t.Errorf("FlagName(%s) = %s, want %s", env, got, want)
		}
	}
}

// TestParseBareBoolFlag: -manage-stream alone means true, as in every
// service (before internal/service, revocation refused it).
func TestParseBareBoolFlag(t *testing.T) {
	got, err := config.Parse(env(map[string]string{"REVOCATION_MANAGE_STREAM": "false"}), []string{"-manage-stream"}, &bytes.Buffer{})
	if err != nil || !got.ManageStream {
		t.Fatalf("Parse(-manage-stream) = %+v, %v; want ManageStream", got, err)
	}
}
