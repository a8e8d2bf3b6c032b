package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
)

// config is the service's configuration: environment variables, each
// overridden by the matching flag (BROADCAST_HTTP_ADDR -> -http-addr).
type config struct {
	HTTPAddr     string
	NATSURL      string
	InboxPrefix  string
	JWKSURL      string
	Issuer       string
	Audience     string
	Leeway       time.Duration
	RevLeeway    time.Duration
	MaxTokenTTL  time.Duration
	Heartbeat    time.Duration
	StartTimeout time.Duration
	LogLevel     slog.Level
	LogFormat    string

	// limits of the HTTP server; the zero value is the chassis' defaults
	// (tests shorten them to see that a stream outlives them).
	limits service.HTTPLimits
}

// settings declares the service's own variables and the shared ones
// (NATS_URL, NATS_INBOX_PREFIX, LOG_LEVEL, LOG_FORMAT) of internal/service.
func (c *config) settings() service.Settings {
	return service.Settings{
		Name: "broadcast",
		About: "An example microservice holding server-sent event streams (GET /v1/stream) that it\n" +
			"closes on every replica when their token is revoked.",
		TrimPrefixes: []string{"BROADCAST_", "AUTH_"},
		List: []service.Setting{
			{Env: "BROADCAST_HTTP_ADDR", Default: ":8092", Help: "listen address", Apply: service.String(&c.HTTPAddr, true)},
			service.NATSURLSetting(&c.NATSURL),
			service.InboxPrefixSetting(&c.InboxPrefix, "broadcast"),
			{Env: "AUTH_JWKS_URL", Default: "http://127.0.0.1:8080/.well-known/jwks.json", Help: "the auth service's JWK Set, followed (cached, refreshed on unknown keys)", Apply: service.String(&c.JWKSURL, true)},
			{Env: "AUTH_ISSUER", Default: "http://localhost:8080", Help: "expected iss", Apply: service.String(&c.Issuer, true)},
			{Env: "AUTH_AUDIENCE", Default: "api", Help: "expected aud", Apply: service.String(&c.Audience, true)},
			{Env: "BROADCAST_LEEWAY", Default: "30s", Help: "clock skew tolerated on exp, nbf and iat", Apply: service.Duration(&c.Leeway, 0)},
			{Env: "REVOCATION_LEEWAY", Default: "60s", Help: "the revocation service's REVOCATION_LEEWAY (the near-cache applies the same expiry rules)", Apply: service.Duration(&c.RevLeeway, 0)},
			{Env: "REVOCATION_MAX_TOKEN_TTL", Default: "24h", Help: "the revocation service's REVOCATION_MAX_TOKEN_TTL: the longest token lifetime", Apply: service.Duration(&c.MaxTokenTTL, time.Second)},
			{Env: "BROADCAST_HEARTBEAT", Default: "15s", Help: "interval of the comment lines that keep idle streams open through proxies", Apply: service.Duration(&c.Heartbeat, 10*time.Millisecond)},
			{Env: "BROADCAST_START_TIMEOUT", Default: "30s", Help: "how long to keep trying to fetch the JWKS and find the revocation stream at start", Apply: service.Duration(&c.StartTimeout, 0)},
			service.LogLevelSetting(&c.LogLevel),
			service.LogFormatSetting(&c.LogFormat),
		},
	}
}

// parseConfig reads the flags in args, else getenv, else the defaults.
func parseConfig(getenv func(string) string, args []string, out io.Writer) (config, error) {
	var c config
	err := c.settings().Parse(getenv, args, out)
	return c, err
}
