// Package config reads the revocation service's settings from environment
// variables and matching command-line flags (a flag wins over its
// variable).
//
//	cfg, err := config.Parse(os.Getenv, os.Args[1:], os.Stderr)
//	if errors.Is(err, flag.ErrHelp) { ... } // usage was printed
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUsage marks an error in the command line or the environment: an
// unknown flag, an invalid value. The message names the variable.
var ErrUsage = errors.New("usage error")

// MinLeeway is the smallest acceptable REVOCATION_LEEWAY: validators accept
// tokens up to 30s past exp, so a revocation must outlive exp by at least
// that much.
const MinLeeway = 30 * time.Second

// Config is the parsed configuration.
type Config struct {
	NATSURL     string     // NATS_URL
	RedisURL    string     // REDIS_URL
	LogLevel    slog.Level // LOG_LEVEL
	LogFormat   string     // LOG_FORMAT: "json" or "text"
	HTTPAddr    string     // REVOCATION_HTTP_ADDR: /healthz, /readyz
	MetricsAddr string     // REVOCATION_METRICS_ADDR: /metrics alone
	Durable     string     // REVOCATION_DURABLE
	// MaxTokenTTL is the longest access-token lifetime any issuer uses: the
	// stream's minimum retention and the fallback expiry of a user version
	// whose event carries no expires_at.
	MaxTokenTTL time.Duration // REVOCATION_MAX_TOKEN_TTL
	// Leeway is added to every expiry written to Redis.
	Leeway          time.Duration // REVOCATION_LEEWAY
	BatchSize       int           // REVOCATION_BATCH_SIZE
	CheckInterval   time.Duration // REVOCATION_CHECK_INTERVAL
	StreamMaxAge    time.Duration // REVOCATION_STREAM_MAX_AGE
	AckWait         time.Duration // REVOCATION_ACK_WAIT
	ReadyMaxPending int64         // REVOCATION_READY_MAX_PENDING
	// InboxPrefix is the prefix of the connection's reply subjects; a
	// least-privilege NATS user may subscribe to its own prefix only.
	InboxPrefix string // NATS_INBOX_PREFIX
	// ManageStream: create the stream and the durable consumer when missing
	// (and update the consumer); false: only look them up and check them,
	// as a NATS user without JetStream management rights must.
	ManageStream bool // REVOCATION_MANAGE_STREAM
}

// DefaultMetricsAddr is where /metrics listens unless
// REVOCATION_METRICS_ADDR says otherwise: loopback, so that the counters
// are for operators, not for whoever reaches the health endpoints.
const DefaultMetricsAddr = "127.0.0.1:9081"

// setting is one variable: its name, default, help text and parser.
type setting struct {
	env   string
	def   string
	usage string
	parse func(c *Config, v string) error
}

var settings = []setting{
	{"NATS_URL", "nats://127.0.0.1:4222", "NATS server URL (comma-separated for several)", func(c *Config, v string) error {
		c.NATSURL = v
		return nonEmpty(v)
	}},
	{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss://)", func(c *Config, v string) error {
		c.RedisURL = v
		_, err := redis.ParseURL(v)
		return err
	}},
	{"LOG_LEVEL", "info", "log level: debug, info, warn or error", func(c *Config, v string) error {
		v = strings.ToLower(v)
		if err := oneOf(v, "debug", "info", "warn", "error"); err != nil {
			return err
		}
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"LOG_FORMAT", "json", "log format: json or text", func(c *Config, v string) error {
		c.LogFormat = strings.ToLower(v)
		return oneOf(c.LogFormat, "json", "text")
	}},
	{"REVOCATION_HTTP_ADDR", ":8081", "listen address for /healthz and /readyz", func(c *Config, v string) error {
		c.HTTPAddr = v
		return nonEmpty(v)
	}},
	{"REVOCATION_METRICS_ADDR", DefaultMetricsAddr, "listen address for /metrics (Prometheus) alone; keep it on loopback or a private network", func(c *Config, v string) error {
		c.MetricsAddr = v
		return nonEmpty(v)
	}},
	{"REVOCATION_DURABLE", "revocation", "name of the durable JetStream consumer", func(c *Config, v string) error {
		c.Durable = v
		return consumerName(v)
	}},
	{"REVOCATION_MAX_TOKEN_TTL", "24h", "longest access-token lifetime any issuer uses (minimum stream retention, fallback user-version expiry)", func(c *Config, v string) error {
		return positiveDuration(&c.MaxTokenTTL, v)
	}},
	{"REVOCATION_LEEWAY", "1m", "added to every expiry written to Redis; at least the validators' leeway (30s)", func(c *Config, v string) error {
		if err := positiveDuration(&c.Leeway, v); err != nil {
			return err
		}
		if c.Leeway < MinLeeway {
			return fmt.Errorf("must be at least %s", MinLeeway)
		}
		return nil
	}},
	{"REVOCATION_BATCH_SIZE", "256", "most events written to Redis in one script call (1-10000)", func(c *Config, v string) error {
		n, err := intIn(v, 1, 10000)
		c.BatchSize = int(n)
		return err
	}},
	{"REVOCATION_CHECK_INTERVAL", "1s", "how often the checkpoint (lost or gone backwards) and the consumer's backlog are checked", func(c *Config, v string) error {
		return positiveDuration(&c.CheckInterval, v)
	}},
	{"REVOCATION_STREAM_MAX_AGE", "168h", "retention of the REVOCATIONS stream when this service creates it", func(c *Config, v string) error {
		return positiveDuration(&c.StreamMaxAge, v)
	}},
	{"REVOCATION_ACK_WAIT", "30s", "how long JetStream waits for an ack before redelivering (at least 1s)", func(c *Config, v string) error {
		if err := positiveDuration(&c.AckWait, v); err != nil {
			return err
		}
		if c.AckWait < time.Second {
			return errors.New("must be at least 1s")
		}
		return nil
	}},
	{"REVOCATION_READY_MAX_PENDING", "1000", "/readyz fails while more events than this wait in the consumer", func(c *Config, v string) error {
		n, err := intIn(v, 0, 1<<62)
		c.ReadyMaxPending = n
		return err
	}},
	{"NATS_INBOX_PREFIX", "_INBOX", "prefix of NATS reply subjects; give each service its own (e.g. _INBOX_revocation) when NATS permissions restrict subscriptions", func(c *Config, v string) error {
		c.InboxPrefix = v
		return inboxPrefix(v)
	}},
	{"REVOCATION_MANAGE_STREAM", "true", "create the REVOCATIONS stream and the durable consumer if missing; false: only look them up (an administrator manages them, see deploy/nats)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		c.ManageStream = b
		return nil
	}},
}

// FlagName returns the flag matching an environment variable: lower case,
// "_" -> "-", without the REVOCATION_ prefix.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "REVOCATION_")), "_", "-")
}

// Parse reads every setting from its flag in args, else from getenv, else
// its default. It returns flag.ErrHelp after printing the usage to output
// when asked for help, and an error wrapping ErrUsage that names the
// variable when a value is invalid.
func Parse(getenv func(string) string, args []string, output io.Writer) (Config, error) {
	fs := flag.NewFlagSet("revocation", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() { printUsage(output) }
	flags := make(map[string]*string, len(settings))
	for _, s := range settings {
		flags[s.env] = fs.String(FlagName(s.env), s.def, s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var c Config
	for _, s := range settings {
		name, value, from := FlagName(s.env), s.def, "default"
		if set[name] {
			value, from = *flags[s.env], "flag -"+name
		} else if v := getenv(s.env); v != "" {
			value, from = v, "environment"
		}
		if err := s.parse(&c, value); err != nil {
			return Config{}, fmt.Errorf("%w: %s (%s): invalid value %q: %w", ErrUsage, s.env, from, value, err)
		}
	}
	if c.StreamMaxAge < c.MaxTokenTTL {
		return Config{}, fmt.Errorf("%w: REVOCATION_STREAM_MAX_AGE (%s) must be at least REVOCATION_MAX_TOKEN_TTL (%s)", ErrUsage, c.StreamMaxAge, c.MaxTokenTTL)
	}
	return c, nil
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: revocation [flags]\n\n")
	b.WriteString("Consumes the REVOCATIONS stream and materialises it into Redis.\n")
	b.WriteString("Every flag can also be set by its environment variable; a flag wins.\n\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "  -%s value\n", FlagName(s.env))
		fmt.Fprintf(&b, "        %s\n", s.usage)
		fmt.Fprintf(&b, "        (env %s, default %q)\n", s.env, s.def)
	}
	_, _ = io.WriteString(w, b.String())
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

// consumerName accepts what JetStream accepts as a durable name.
func consumerName(v string) error {
	if err := nonEmpty(v); err != nil {
		return err
	}
	if strings.ContainsAny(v, " \t\r\n.*>/\\") {
		return errors.New(`must not contain whitespace, ".", "*", ">", "/" or "\"`)
	}
	return nil
}

// inboxPrefix accepts what nats.CustomInboxPrefix accepts: subject tokens
// without wildcards, not ending in ".".
func inboxPrefix(v string) error {
	if err := nonEmpty(v); err != nil {
		return err
	}
	if strings.ContainsAny(v, " \t\r\n*>") || strings.HasSuffix(v, ".") || strings.HasPrefix(v, ".") || strings.Contains(v, "..") {
		return errors.New(`must be dot-separated subject tokens without whitespace, "*" or ">"`)
	}
	return nil
}

func positiveDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration (examples: 500ms, 30s, 24h)")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	*dst = d
	return nil
}

func intIn(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("must be between %d and %d", lo, hi)
	}
	return n, nil
}
