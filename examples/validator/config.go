package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
)

// config is the validator's configuration: environment variables, each
// overridden by the matching flag (VALIDATOR_HTTP_ADDR -> -http-addr).
type config struct {
	HTTPAddr    string
	RedisURL    string
	JWKSURL     string
	Issuer      string
	Audience    string
	ClockSkew   time.Duration
	JWKSTimeout time.Duration
	Leeway      time.Duration
	LogLevel    slog.Level
	LogFormat   string
}

// settings declares the validator's own variables and the shared ones
// (REDIS_URL, LOG_LEVEL, LOG_FORMAT) of internal/service.
func (c *config) settings() service.Settings {
	return service.Settings{
		Name: "validator",
		About: "An example microservice protected by pkg/jwtx: GET /v1/orders for a valid,\n" +
			"unrevoked bearer token of the auth service.",
		TrimPrefixes: []string{"VALIDATOR_", "AUTH_"},
		List: []service.Setting{
			{Env: "VALIDATOR_HTTP_ADDR", Default: ":8090", Help: "listen address", Apply: service.String(&c.HTTPAddr, true)},
			service.RedisURLSetting(&c.RedisURL, "Redis holding the revocation view (read-only access is enough)"),
			{Env: "AUTH_JWKS_URL", Default: "http://127.0.0.1:8080/.well-known/jwks.json", Help: "the auth service's JWK Set, followed (cached, refreshed on unknown keys)", Apply: service.String(&c.JWKSURL, true)},
			{Env: "AUTH_ISSUER", Default: "http://localhost:8080", Help: "expected iss", Apply: service.String(&c.Issuer, true)},
			{Env: "AUTH_AUDIENCE", Default: "api", Help: "expected aud", Apply: service.String(&c.Audience, true)},
			{Env: "VALIDATOR_CLOCK_SKEW", Default: "0s", Help: "offset added to this service's clock (testing clock skew)", Apply: service.Duration(&c.ClockSkew, -24*time.Hour)},
			{Env: "VALIDATOR_JWKS_TIMEOUT", Default: "30s", Help: "how long to keep trying to fetch the JWKS at start", Apply: service.Duration(&c.JWKSTimeout, 0)},
			{Env: "VALIDATOR_LEEWAY", Default: "30s", Help: "clock skew tolerated on exp, nbf and iat", Apply: service.Duration(&c.Leeway, 0)},
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
