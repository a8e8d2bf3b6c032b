package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
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
	LogLevel    string
}

// setting is one environment variable with its flag, default and help.
type setting struct {
	env, def, help string
	dst            any
}

func (c *config) settings() []setting {
	return []setting{
		{"VALIDATOR_HTTP_ADDR", ":8090", "listen address", &c.HTTPAddr},
		{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis holding the revocation view (read-only access is enough)", &c.RedisURL},
		{"AUTH_JWKS_URL", "http://127.0.0.1:8080/.well-known/jwks.json", "the auth service's JWK Set, followed (cached, refreshed on unknown keys)", &c.JWKSURL},
		{"AUTH_ISSUER", "http://localhost:8080", "expected iss", &c.Issuer},
		{"AUTH_AUDIENCE", "api", "expected aud", &c.Audience},
		{"VALIDATOR_CLOCK_SKEW", "0s", "offset added to this service's clock (testing clock skew)", &c.ClockSkew},
		{"VALIDATOR_JWKS_TIMEOUT", "30s", "how long to keep trying to fetch the JWKS at start", &c.JWKSTimeout},
		{"VALIDATOR_LEEWAY", "30s", "clock skew tolerated on exp, nbf and iat", &c.Leeway},
		{"LOG_LEVEL", "info", "debug, info, warn or error", &c.LogLevel},
	}
}

// flagName maps VALIDATOR_HTTP_ADDR to http-addr and AUTH_JWKS_URL to
// jwks-url.
func flagName(env string) string {
	env = strings.TrimPrefix(strings.TrimPrefix(env, "VALIDATOR_"), "AUTH_")
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// parseConfig reads the flags in args, else getenv, else the defaults.
func parseConfig(getenv func(string) string, args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("validator", flag.ContinueOnError)
	fs.SetOutput(out)
	raw := map[string]*string{}
	for _, s := range c.settings() {
		raw[s.env] = fs.String(flagName(s.env), "", fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, s := range c.settings() {
		v := *raw[s.env]
		if v == "" {
			v = getenv(s.env)
		}
		if v == "" {
			v = s.def
		}
		switch d := s.dst.(type) {
		case *string:
			*d = v
		case *time.Duration:
			dur, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", s.env, err)
			}
			*d = dur
		}
	}
	return c, nil
}
