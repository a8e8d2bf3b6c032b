package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// Connection settings.
const (
	natsReconnectWait  = 250 * time.Millisecond
	natsDrainTimeout   = 5 * time.Second
	redisDialTimeout   = 2 * time.Second
	redisIOTimeout     = 2 * time.Second
	redisPoolTimeout   = 3 * time.Second
	clientName         = "revocation"
	natsConnectTimeout = 2 * time.Second
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, hopts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, hopts)
	}
	return slog.New(h).With("service", "revocation")
}

// connectNATS connects, or keeps trying in the background when the server
// is not up yet; it reconnects forever and logs every change.
func connectNATS(cfg config.Config, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name(clientName),
		nats.CustomInboxPrefix(cfg.InboxPrefix),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.Timeout(natsConnectTimeout),
		nats.DrainTimeout(natsDrainTimeout),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats connected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil { // closed by us
				log.Info("nats connection closed")
				return
			}
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats error", "subject", subject, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", redactURLs(cfg.NATSURL), err)
	}
	return nc, nil
}

// drainNATS lets pending acks and announcements out, then closes.
func drainNATS(nc *nats.Conn, log *slog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		log.Debug("nats drain", "err", err)
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(natsDrainTimeout + time.Second):
		nc.Close()
	}
}

// newRedis returns a client whose commands honour context deadlines and
// time out quickly: the caller retries with backoff.
func newRedis(cfg config.Config) (*redis.Client, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.ClientName = clientName
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	opt.PoolTimeout = redisPoolTimeout
	opt.MaxRetries = -1 // ingest retries with backoff and counts failures
	return redis.NewClient(opt), nil
}

// redactURLs hides passwords in a comma-separated list of URLs.
func redactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
