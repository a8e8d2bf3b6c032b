// Package natsconn is the service chassis's NATS connection, apart from
// package service so that a service without NATS (examples/validator)
// does not pull the client into its module graph.
package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventjwt/eventjwt/internal/service"
)

// NATS connection policy, the same for every service.
const (
	// natsFirstDelay is the first wait between connection attempts; it
	// doubles up to natsMaxDelay.
	natsFirstDelay = 250 * time.Millisecond
	natsMaxDelay   = time.Second
	// natsConnectTimeout bounds one dial.
	natsConnectTimeout = 2 * time.Second
	// DrainTimeout bounds Drain.
	DrainTimeout = 5 * time.Second
)

// Config configures Connect.
type Config struct {
	// URL is NATS_URL (comma-separated for several servers).
	URL string
	// Name is the client name the server shows.
	Name string
	// InboxPrefix is NATS_INBOX_PREFIX; empty: _INBOX.
	InboxPrefix string
	// Logger receives connects, disconnects and async errors.
	Logger *slog.Logger
	// NoReconnectBuffer makes publishes fail at once while disconnected
	// instead of being buffered (auth answers logout 503 rather than
	// holding an acknowledgement it cannot get).
	NoReconnectBuffer bool
}

// natsDelay is the wait before reconnection attempt n (1, 2, ...).
func natsDelay(n int) time.Duration {
	d := natsFirstDelay
	for i := 1; i < n && d < natsMaxDelay; i++ {
		d *= 2
	}
	return min(d, natsMaxDelay)
}

// Connect returns a connection that is up, or still trying: a server
// that is down at start is not an error. The connection retries with
// backoff (250ms doubling to 1s) until it is closed, reconnects forever
// after a loss, and logs every change; until it is connected the
// service's readiness (Ready) is false. Only a malformed URL or
// option fails.
func Connect(cfg Config) (*nats.Conn, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "nats")
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(natsDelay),
		nats.RetryOnFailedConnect(true),
		nats.Timeout(natsConnectTimeout),
		nats.DrainTimeout(DrainTimeout),
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
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	if cfg.NoReconnectBuffer {
		opts = append(opts, nats.ReconnectBufSize(-1))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", service.RedactURLs(cfg.URL), err)
	}
	return nc, nil
}

// Ready is the readiness check of a connection: nil once connected.
func Ready(nc *nats.Conn) error {
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats connection is %s", st)
	}
	return nil
}

// Drain lets pending publishes, acks and replies out, then closes nc,
// within DrainTimeout (and a second more to close).
func Drain(nc *nats.Conn) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
	}
	select {
	case <-closed:
		return nil
	case <-time.After(DrainTimeout + time.Second):
		nc.Close()
		return errors.New("nats drain: timed out")
	}
}
