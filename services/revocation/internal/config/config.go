// Package config declares the revocation service's settings: its own
// variables and the shared ones of internal/service, which parses them
// (environment variables and matching flags; a flag wins over its
// variable).
//
//	cfg, err := config.Parse(os.Getenv, os.Args[1:], os.Stderr)
//	if errors.Is(err, flag.ErrHelp) { ... } // usage was printed
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
)

// ErrUsage marks an error in the command line or the environment: an
// unknown flag, an invalid value. The message names the variable.
var ErrUsage = service.ErrUsage

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
	PprofAddr   string     // REVOCATION_PPROF_ADDR: net/http/pprof; empty: off
	Durable     string     // REVOCATION_DURABLE
	// MaxTokenTTL is the longest access-token lifetime any issuer uses: the
	// stream's minimum retention and the fallback expiry of a user version
	// whose event carries no expires_at.
	MaxTokenTTL time.Duration // REVOCATION_MAX_TOKEN_TTL
	// Leeway is added to every expiry written to Redis.
	Leeway        time.Duration // REVOCATION_LEEWAY
	BatchSize     int           // REVOCATION_BATCH_SIZE
	CheckInterval time.Duration // REVOCATION_CHECK_INTERVAL
	StreamMaxAge  time.Duration // REVOCATION_STREAM_MAX_AGE
	// StreamReplicas: copies of the REVOCATIONS stream (1-5); 0 when
	// unset, which a NATS cluster refuses (events.StreamConfig.Replicas).
	StreamReplicas  int           // REVOCATION_STREAM_REPLICAS
	AckWait         time.Duration // REVOCATION_ACK_WAIT
	ReadyMaxPending int64         // REVOCATION_READY_MAX_PENDING
	// InboxPrefix is the prefix of the connection's reply subjects; a
	// least-privilege NATS user may subscribe to its own prefix only.
	InboxPrefix string // NATS_INBOX_PREFIX
	// ManageStream: create the stream and the durable consumer when missing
	// (and update the consumer); false: only look them up and check them,
	// as a NATS user without JetStream management rights must.
	ManageStream bool // REVOCATION_MANAGE_STREAM
	// PinnedTTL: several instances share the durable consumer, one active
	// (pinned) and the others hot standbys; a standby takes over at most
	// this long after the active one stopped pulling (killed, hung,
	// partitioned). A clean stop hands over at once.
	PinnedTTL time.Duration // REVOCATION_PINNED_TTL
	// RedisWaitReplicas: how many Redis replicas every write waits for
	// before it is announced (a 204): "" (unset: the default of the
	// REDIS_URL form), "all" or a number 0-5.
	RedisWaitReplicas string        // REVOCATION_REDIS_WAIT_REPLICAS
	RedisWaitTimeout  time.Duration // REVOCATION_REDIS_WAIT_TIMEOUT
}

// MinPinnedTTL is the shortest REVOCATION_PINNED_TTL: the active instance
// pulls every PinnedTTL/2, and JetStream accepts no pull shorter than 1s.
const MinPinnedTTL = 2 * time.Second

// DefaultMetricsAddr is where /metrics listens unless
// REVOCATION_METRICS_ADDR says otherwise: loopback, so that the counters
// are for operators, not for whoever reaches the health endpoints.
const DefaultMetricsAddr = "127.0.0.1:9081"

// settings lists every variable of c, in the order --help shows them.
func settings(c *Config) service.Settings {
	positive := func(dst *time.Duration) func(string) error { return service.Duration(dst, time.Nanosecond) }
	return service.Settings{
		Name:         "revocation",
		About:        "Consumes the REVOCATIONS stream and materialises it into Redis.",
		TrimPrefixes: []string{"REVOCATION_"},
		List: []service.Setting{
			service.NATSURLSetting(&c.NATSURL),
			service.RedisURLSetting(&c.RedisURL, ""),
			service.LogLevelSetting(&c.LogLevel),
			service.LogFormatSetting(&c.LogFormat),
			{Env: "REVOCATION_HTTP_ADDR", Default: ":8081", Help: "listen address for /healthz and /readyz", Apply: service.String(&c.HTTPAddr, true)},
			{Env: "REVOCATION_METRICS_ADDR", Default: DefaultMetricsAddr, Help: "listen address for /metrics (Prometheus) alone; keep it on loopback or a private network", Apply: service.String(&c.MetricsAddr, true)},
			service.PprofSetting("REVOCATION_PPROF_ADDR", &c.PprofAddr),
			{Env: "REVOCATION_DURABLE", Default: "revocation", Help: "name of the durable JetStream consumer", Apply: func(v string) error {
				c.Durable = v
				return consumerName(v)
			}},
			{Env: "REVOCATION_MAX_TOKEN_TTL", Default: "24h", Help: "longest access-token lifetime any issuer uses (minimum stream retention, fallback user-version expiry)", Apply: positive(&c.MaxTokenTTL)},
			{Env: "REVOCATION_LEEWAY", Default: "1m", Help: "added to every expiry written to Redis; at least the validators' leeway (30s)", Apply: service.Duration(&c.Leeway, MinLeeway)},
			{Env: "REVOCATION_BATCH_SIZE", Default: "256", Help: "most events written to Redis in one script call (1-10000)", Apply: service.Int(1, 10000, func(n int64) { c.BatchSize = int(n) })},
			{Env: "REVOCATION_CHECK_INTERVAL", Default: "1s", Help: "how often the checkpoint (lost or gone backwards) and the consumer's backlog are checked", Apply: positive(&c.CheckInterval)},
			{Env: "REVOCATION_STREAM_MAX_AGE", Default: "168h", Help: "retention of the REVOCATIONS stream when this service creates it", Apply: positive(&c.StreamMaxAge)},
			{Env: StreamReplicasEnv, Help: "copies of the REVOCATIONS stream JetStream keeps (1-5): 3 on a cluster of 3 (raises an existing stream with fewer); unset: 1 on a single server, refused on a cluster (set 1 to accept a single copy)", Apply: func(v string) error {
				if v == "" {
					c.StreamReplicas = 0
					return nil
				}
				return service.Int(1, 5, func(n int64) { c.StreamReplicas = int(n) })(v)
			}},
			{Env: "REVOCATION_ACK_WAIT", Default: "30s", Help: "how long JetStream waits for an ack before redelivering (at least 1s)", Apply: service.Duration(&c.AckWait, time.Second)},
			{Env: "REVOCATION_READY_MAX_PENDING", Default: "1000", Help: "/readyz fails while more events than this wait in the consumer", Apply: service.Int(0, 1<<62, func(n int64) { c.ReadyMaxPending = n })},
			service.InboxPrefixSetting(&c.InboxPrefix, "revocation"),
			{Env: "REVOCATION_MANAGE_STREAM", Default: "true", Bool: true, Help: "create the REVOCATIONS stream and the durable consumer if missing; false: only look them up (an administrator manages them, see deploy/nats)", Apply: service.Bool(&c.ManageStream)},
			{Env: "REVOCATION_REDIS_WAIT_REPLICAS", Help: "Redis replicas that must have every write (WAIT) before it is announced, so that a 204 survives a failover: all (every replica the primary has) or 0-5; unset: all behind Sentinel, 1 in a Cluster, 0 for one server. A write that fewer acknowledge is still applied and acknowledged, and its logout answers 202", Apply: func(v string) error {
				c.RedisWaitReplicas = v
				if v == "" || v == "all" {
					return nil
				}
				return service.Int(0, 5, func(int64) {})(v)
			}},
			{Env: "REVOCATION_REDIS_WAIT_TIMEOUT", Default: "1s", Help: "how long a write waits for REVOCATION_REDIS_WAIT_REPLICAS", Apply: service.Duration(&c.RedisWaitTimeout, time.Millisecond)},
			{Env: "REVOCATION_PINNED_TTL", Default: "5s", Help: "instances on one durable consumer: one active, the others hot standbys; a standby takes over this long after the active one stops pulling (killed, hung); a clean stop hands over at once (at least 2s; with REVOCATION_MANAGE_STREAM=false the consumer's own setting applies)", Apply: service.Duration(&c.PinnedTTL, MinPinnedTTL)},
		},
	}
}

// StreamReplicasEnv is the setting of Config.StreamReplicas.
const StreamReplicasEnv = "REVOCATION_STREAM_REPLICAS"

// FlagName returns the flag matching an environment variable: lower case,
// "_" -> "-", without the REVOCATION_ prefix.
func FlagName(env string) string {
	return settings(&Config{}).FlagName(service.Setting{Env: env})
}

// Parse reads every setting from its flag in args, else from getenv, else
// its default (service.Settings.Parse). It returns flag.ErrHelp after
// printing the usage to output when asked for help, and an error wrapping
// ErrUsage that names the variable when a value is invalid.
func Parse(getenv func(string) string, args []string, output io.Writer) (Config, error) {
	var c Config
	if err := settings(&c).Parse(getenv, args, output); err != nil {
		return Config{}, err
	}
	if c.StreamMaxAge < c.MaxTokenTTL {
		return Config{}, fmt.Errorf("%w: REVOCATION_STREAM_MAX_AGE (%s) must be at least REVOCATION_MAX_TOKEN_TTL (%s)", ErrUsage, c.StreamMaxAge, c.MaxTokenTTL)
	}
	return c, nil
}

// consumerName accepts what JetStream accepts as a durable name.
func consumerName(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	if strings.ContainsAny(v, " \t\r\n.*>/\\") {
		return errors.New(`must not contain whitespace, ".", "*", ">", "/" or "\"`)
	}
	return nil
}
