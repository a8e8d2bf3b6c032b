package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

// ErrUsage wraps every configuration error: the command line or the
// environment is wrong (exit status 2).
var ErrUsage = errors.New("usage")

// Config is the auth service's configuration.
type Config struct {
	NATSURL            string
	RedisURL           string
	LogLevel           slog.Level
	LogFormat          string // json or text
	HTTPAddr           string
	MetricsAddr        string // /metrics only, apart from the API (DefaultMetricsAddr)
	DBPath             string
	SigningKeyFile     string       // empty: generate a key at start
	RetiredKeys        []RetiredKey // earlier signing keys still published and accepted
	Issuer             string
	Audience           string
	AccessTokenTTL     time.Duration
	AcceptLegacyTokens bool
	RevocationWait     time.Duration
	Argon2MemoryKiB    uint32
	Argon2Iterations   uint32
	Argon2Parallelism  uint8
	LoginRateUser      ratelimit.Limit // failed logins per username
	LoginRateIP        ratelimit.Limit // login and register attempts per client address
	TrustedProxies     []netip.Prefix  // peers whose X-Forwarded-For is believed
	StreamMaxAge       time.Duration
	// InboxPrefix is the prefix of the NATS connection's reply subjects
	// (PubAcks, stream info); a least-privilege NATS user may subscribe to
	// its own prefix only.
	InboxPrefix string
	// ManageStream: create the REVOCATIONS stream when missing; false: only
	// look it up and check it (needs no JetStream management permission).
	ManageStream bool
}

// DefaultMetricsAddr is where /metrics listens unless AUTH_METRICS_ADDR
// says otherwise: loopback, because the counters (login failures, logout
// outcomes) are for operators, not for whoever reaches the API.
const DefaultMetricsAddr = "127.0.0.1:9080"

// setting is one environment variable and its matching flag.
type setting struct {
	env    string
	def    string
	help   string
	isBool bool
	apply  func(c *Config, v string) error
}

// flagName derives the flag from the variable: lower case, '_' -> '-',
// without the AUTH_ prefix.
func (s setting) flagName() string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.env, "AUTH_")), "_", "-")
}

// settings lists every variable, in the order --help shows them.
var settings = []setting{
	{env: "NATS_URL", def: "nats://127.0.0.1:4222", help: "NATS server URL(s), comma-separated", apply: func(c *Config, v string) error {
		c.NATSURL = v
		return nonEmpty(v)
	}},
	{env: "REDIS_URL", def: "redis://127.0.0.1:6379/0", help: "Redis URL (redis:// or rediss://)", apply: func(c *Config, v string) error {
		c.RedisURL = v
		return parseURL(v, "redis", "rediss", "unix")
	}},
	{env: "LOG_LEVEL", def: "info", help: "log level: debug, info, warn, error", apply: func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{env: "LOG_FORMAT", def: "json", help: "log format: json, text", apply: func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return errors.New("want json or text")
		}
		c.LogFormat = v
		return nil
	}},
	{env: "AUTH_HTTP_ADDR", def: ":8080", help: "HTTP listen address of the API, /healthz and /readyz", apply: func(c *Config, v string) error {
		c.HTTPAddr = v
		return nonEmpty(v)
	}},
	{env: "AUTH_METRICS_ADDR", def: DefaultMetricsAddr, help: "listen address of /metrics (Prometheus), apart from the API; keep it on loopback or a private network", apply: func(c *Config, v string) error {
		c.MetricsAddr = v
		return nonEmpty(v)
	}},
	{env: "AUTH_DB_PATH", def: "auth.db", help: "SQLite database file for users", apply: func(c *Config, v string) error {
		c.DBPath = v
		return nonEmpty(v)
	}},
	{env: "AUTH_SIGNING_KEY_FILE", def: "", help: "PKCS#8 PEM Ed25519 private key; empty: generate one at start (tokens die with the process)", apply: func(c *Config, v string) error {
		c.SigningKeyFile = v
		return nil
	}},
	{env: "AUTH_ISSUER", def: "http://localhost:8080", help: "iss of issued tokens", apply: func(c *Config, v string) error {
		c.Issuer = v
		return nonEmpty(v)
	}},
	{env: "AUTH_AUDIENCE", def: "api", help: "aud of issued tokens", apply: func(c *Config, v string) error {
		c.Audience = v
		return nonEmpty(v)
	}},
	{env: "AUTH_ACCESS_TOKEN_TTL", def: "15m", help: "access token lifetime", apply: func(c *Config, v string) error {
		return parseDuration(v, time.Second, &c.AccessTokenTTL)
	}},
	{env: "AUTH_ACCEPT_LEGACY_TOKENS", def: "false", isBool: true, help: "accept tokens without jti (revocable only by logout-all-devices)", apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.AcceptLegacyTokens = b
		return err
	}},
	{env: "AUTH_REVOCATION_WAIT", def: "3s", help: "how long logout waits for enforcement before answering 202", apply: func(c *Config, v string) error {
		return parseDuration(v, time.Millisecond, &c.RevocationWait)
	}},
	{env: "AUTH_ARGON2_MEMORY_KIB", def: "65536", help: "argon2id memory per hash, KiB", apply: func(c *Config, v string) error {
		return parseUint(v, 8, 4<<20, func(n uint64) { c.Argon2MemoryKiB = uint32(n) })
	}},
	{env: "AUTH_ARGON2_ITERATIONS", def: "2", help: "argon2id iterations", apply: func(c *Config, v string) error {
		return parseUint(v, 1, 100, func(n uint64) { c.Argon2Iterations = uint32(n) })
	}},
	{env: "AUTH_ARGON2_PARALLELISM", def: "2", help: "argon2id lanes", apply: func(c *Config, v string) error {
		return parseUint(v, 1, math.MaxUint8, func(n uint64) { c.Argon2Parallelism = uint8(n) })
	}},
	{env: "AUTH_LOGIN_RATE_USER", def: "10/15m", help: `failed logins allowed per username per window ("N/duration" or "off"); shared by replicas through Redis`, apply: func(c *Config, v string) error {
		l, err := ratelimit.ParseLimit(v)
		c.LoginRateUser = l
		return err
	}},
	{env: "AUTH_LOGIN_RATE_IP", def: "30/1m", help: `login and register attempts allowed per client address per window ("N/duration" or "off"); IPv6 counts per /64`, apply: func(c *Config, v string) error {
		l, err := ratelimit.ParseLimit(v)
		c.LoginRateIP = l
		return err
	}},
	{env: "AUTH_TRUSTED_PROXIES", def: "", help: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For names the client; empty: the peer address is the client", apply: func(c *Config, v string) error {
		p, err := httpapi.ParseTrustedProxies(v)
		c.TrustedProxies = p
		return err
	}},
	{env: "AUTH_RETIRED_KEYS", def: "", help: "earlier signing keys, comma-separated PATH@RFC3339 (PKCS#8 PEM file and when it stopped signing): published in the JWKS and accepted until that time + token TTL + leeway", apply: func(c *Config, v string) error {
		k, err := parseRetiredKeys(v)
		c.RetiredKeys = k
		return err
	}},
	{env: "AUTH_STREAM_MAX_AGE", def: "168h", help: "retention of the REVOCATIONS stream when this service creates it; must exceed the token TTL", apply: func(c *Config, v string) error {
		return parseDuration(v, time.Second, &c.StreamMaxAge)
	}},
	{env: "NATS_INBOX_PREFIX", def: "_INBOX", help: "prefix of NATS reply subjects; give each service its own (e.g. _INBOX_auth) when NATS permissions restrict subscriptions", apply: func(c *Config, v string) error {
		c.InboxPrefix = v
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\r\n*>") || strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") {
			return errors.New(`want dot-separated subject tokens without whitespace, "*" or ">"`)
		}
		return nil
	}},
	{env: "AUTH_MANAGE_STREAM", def: "true", isBool: true, help: "create the REVOCATIONS stream if missing; false: only look it up (an administrator manages it, see deploy/nats)", apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.ManageStream = b
		return err
	}},
}

// flagValue is a string flag that remembers being set; bool settings
// accept a bare -flag.
type flagValue struct {
	val    string
	set    bool
	isBool bool
}

func (f *flagValue) String() string   { return f.val }
func (f *flagValue) IsBoolFlag() bool { return f.isBool }
func (f *flagValue) Set(v string) error {
	f.val, f.set = v, true
	return nil
}

// ParseConfig reads the configuration from args (flags) and getenv; flags
// win over the environment, which wins over the defaults. Errors wrap
// ErrUsage and name the variable; -h/--help returns flag.ErrHelp after
// writing the usage to out.
func ParseConfig(getenv func(string) string, args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*flagValue, len(settings))
	for i, s := range settings {
		values[i] = &flagValue{isBool: s.isBool}
		fs.Var(values[i], s.flagName(), s.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(out)
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w (see --help)", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q (see --help)", ErrUsage, fs.Arg(0))
	}
	var c Config
	for i, s := range settings {
		v, from := s.def, "default"
		if e := getenv(s.env); e != "" {
			v, from = e, s.env
		}
		if values[i].set {
			v, from = values[i].val, "-"+s.flagName()
		}
		if err := s.apply(&c, v); err != nil {
			return Config{}, fmt.Errorf("%w: invalid %s %q (from %s): %w", ErrUsage, s.env, v, from, err)
		}
	}
	if c.StreamMaxAge <= c.AccessTokenTTL {
		return Config{}, fmt.Errorf("%w: AUTH_STREAM_MAX_AGE (%s) must exceed AUTH_ACCESS_TOKEN_TTL (%s)", ErrUsage, c.StreamMaxAge, c.AccessTokenTTL)
	}
	if c.Argon2MemoryKiB < 8*uint32(c.Argon2Parallelism) {
		return Config{}, fmt.Errorf("%w: AUTH_ARGON2_MEMORY_KIB (%d) must be at least 8 * AUTH_ARGON2_PARALLELISM (%d)", ErrUsage, c.Argon2MemoryKiB, c.Argon2Parallelism)
	}
	return c, nil
}

// Usage writes the --help text: every flag with its variable and default.
func Usage(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprint(tw, "Usage: auth [flags]\n\n",
		"The auth service: users, tokens, logout. Each flag has a matching environment\n",
		"variable; flags win over the environment.\n\n",
		"  FLAG\tENV\tDEFAULT\tDESCRIPTION\n")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = `""`
		}
		_, _ = fmt.Fprintf(tw, "  -%s\t%s\t%s\t%s\n", s.flagName(), s.env, def, s.help)
	}
	_ = tw.Flush()
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func parseURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("scheme must be one of %s", strings.Join(schemes, ", "))
}

func parseDuration(v string, least time.Duration, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d < least {
		return fmt.Errorf("must be at least %s", least)
	}
	*dst = d
	return nil
}

func parseUint(v string, lo, hi uint64, set func(uint64)) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return errors.New("not a non-negative integer")
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	set(n)
	return nil
}
