package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrUsage wraps every configuration error: the command line or the
// environment is wrong (exit status 2). The message names the variable,
// the value and where it came from.
var ErrUsage = errors.New("usage")

// Setting is one environment variable and its matching flag.
type Setting struct {
	// Env is the variable, e.g. AUTH_HTTP_ADDR.
	Env string
	// Flag is the flag without its dash; empty: derived from Env (see
	// Settings.FlagName).
	Flag string
	// Default is used when neither the flag nor the variable is set; it
	// goes through Apply like any other value.
	Default string
	// Help is the description --help shows.
	Help string
	// Bool makes a bare -flag mean -flag=true.
	Bool bool
	// Apply parses and stores a value; its error is reported with the
	// variable's name.
	Apply func(v string) error
}

// Settings is the configuration of one program: its settings in the
// order --help shows them.
type Settings struct {
	// Name is the program's name, as in "Usage: NAME [flags]".
	Name string
	// About is the paragraph under the usage line.
	About string
	// TrimPrefixes are removed from a variable's name to derive its flag
	// (AUTH_HTTP_ADDR -> -http-addr with "AUTH_").
	TrimPrefixes []string
	// List holds the settings.
	List []Setting
}

// FlagName returns s's flag: s.Flag, or s.Env in lower case with '_' ->
// '-', after removing the first of TrimPrefixes it starts with.
func (c Settings) FlagName(s Setting) string {
	if s.Flag != "" {
		return s.Flag
	}
	env := s.Env
	for _, p := range c.TrimPrefixes {
		if strings.HasPrefix(env, p) {
			env = strings.TrimPrefix(env, p)
			break
		}
	}
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// flagValue is a string flag that remembers being set; a Bool setting
// accepts a bare -flag.
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

// Parse applies every setting: its flag in args when given (even empty),
// else its variable from getenv when not empty, else its default. It
// returns flag.ErrHelp after writing the usage to out for -h or --help,
// and an error wrapping ErrUsage for an unknown flag, a stray argument or
// a value Apply refuses.
func (c Settings) Parse(getenv func(string) string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*flagValue, len(c.List))
	for i, s := range c.List {
		values[i] = &flagValue{isBool: s.Bool}
		fs.Var(values[i], c.FlagName(s), s.Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.Usage(out)
			return err
		}
		return fmt.Errorf("%w: %w (see --help)", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", ErrUsage, fs.Arg(0))
	}
	for i, s := range c.List {
		v, from := s.Default, "default"
		if e := getenv(s.Env); e != "" {
			v, from = e, s.Env
		}
		if values[i].set {
			v, from = values[i].val, "-"+c.FlagName(s)
		}
		if err := s.Apply(v); err != nil {
			return fmt.Errorf("%w: invalid %s %q (from %s): %w", ErrUsage, s.Env, v, from, err)
		}
	}
	return nil
}

// Usage writes the --help text: every flag with its variable, default
// and description, one per line.
func (c Settings) Usage(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "Usage: %s [flags]\n\n%s\nEach flag has a matching environment variable; flags win over the\nenvironment, which wins over the default.\n\n  FLAG\tENV\tDEFAULT\tDESCRIPTION\n",
		c.Name, strings.TrimRight(c.About, "\n")+"\n")
	for _, s := range c.List {
		def := s.Default
		if def == "" {
			def = `""`
		}
		_, _ = fmt.Fprintf(tw, "  -%s\t%s\t%s\t%s\n", c.FlagName(s), s.Env, def, s.Help)
	}
	_ = tw.Flush()
}

// Common holds the settings every service shares.
type Common struct {
	NATSURL     string     // NATS_URL
	RedisURL    string     // REDIS_URL
	LogLevel    slog.Level // LOG_LEVEL
	LogFormat   string     // LOG_FORMAT: json or text
	InboxPrefix string     // NATS_INBOX_PREFIX
}

// Defaults of the shared settings.
const (
	DefaultNATSURL     = "nats://127.0.0.1:4222"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultInboxPrefix = "_INBOX"
)

// NATSURLSetting is NATS_URL into dst.
func NATSURLSetting(dst *string) Setting {
	return Setting{Env: "NATS_URL", Default: DefaultNATSURL, Help: "NATS server URL(s), comma-separated", Apply: String(dst, true)}
}

// RedisURLSetting is REDIS_URL into dst.
func RedisURLSetting(dst *string, help string) Setting {
	if help == "" {
		help = "Redis URL: one server redis://host:port/db (rediss:// for TLS, unix://); Sentinel redis://sentinel:port/db?master_name=NAME&addr=sentinel2:port...; Cluster redis://node:port?addr=node2:port... (or ?cluster=true with one seed)"
	}
	return Setting{Env: "REDIS_URL", Default: DefaultRedisURL, Help: help, Apply: func(v string) error {
		*dst = v
		return parseURL(v, "redis", "rediss", "unix")
	}}
}

// LogLevelSetting is LOG_LEVEL into dst: debug, info, warn or error, in
// any case.
func LogLevelSetting(dst *slog.Level) Setting {
	return Setting{Env: "LOG_LEVEL", Default: "info", Help: "log level: debug, info, warn or error", Apply: func(v string) error {
		v = strings.ToLower(v)
		if err := oneOf(v, "debug", "info", "warn", "error"); err != nil {
			return err
		}
		return dst.UnmarshalText([]byte(v))
	}}
}

// LogFormatSetting is LOG_FORMAT into dst: json or text, in any case.
func LogFormatSetting(dst *string) Setting {
	return Setting{Env: "LOG_FORMAT", Default: "json", Help: "log format: json or text", Apply: func(v string) error {
		*dst = strings.ToLower(v)
		return oneOf(*dst, "json", "text")
	}}
}

// InboxPrefixSetting is NATS_INBOX_PREFIX into dst; name is the service,
// for the example in the help.
func InboxPrefixSetting(dst *string, name string) Setting {
	return Setting{Env: "NATS_INBOX_PREFIX", Default: DefaultInboxPrefix,
		Help: "prefix of NATS reply subjects; give each service its own (e.g. _INBOX_" + name + ") when NATS permissions restrict subscriptions",
		Apply: func(v string) error {
			*dst = v
			return inboxPrefix(v)
		}}
}

// Log returns the logging settings (LOG_LEVEL, LOG_FORMAT) of c.
func (c *Common) Log() []Setting {
	return []Setting{LogLevelSetting(&c.LogLevel), LogFormatSetting(&c.LogFormat)}
}

// String stores v in dst; nonEmpty refuses a blank value.
func String(dst *string, nonEmpty bool) func(string) error {
	return func(v string) error {
		*dst = v
		if nonEmpty && strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		return nil
	}
}

// Bool parses true or false (strconv.ParseBool) into dst.
func Bool(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*dst = b
		return nil
	}
}

// Duration parses a duration of at least least into dst.
func Duration(dst *time.Duration, least time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration (examples: 500ms, 30s, 24h)")
		}
		if d < least {
			return fmt.Errorf("must be at least %s", least)
		}
		*dst = d
		return nil
	}
}

// Int parses an integer in lo..hi and hands it to set.
func Int(lo, hi int64, set func(int64)) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		set(n)
		return nil
	}
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

func parseURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("does not parse as a URL") // not echoed: it may hold a password
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("scheme must be one of %s", strings.Join(schemes, ", "))
}

// inboxPrefix accepts what nats.CustomInboxPrefix accepts: subject tokens
// without wildcards, not starting or ending in ".".
func inboxPrefix(v string) error {
	if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\r\n*>") || strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") {
		return errors.New(`want dot-separated subject tokens without whitespace, "*" or ">"`)
	}
	return nil
}

// RedactURLs hides passwords in a comma-separated list of URLs, for logs.
func RedactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
