package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream retention defaults.
const (
	// DefaultMaxAge is how long the stream keeps revocations when the caller
	// asks for nothing longer. It must exceed the longest token lifetime and
	// the longest revocation-service outage you want to survive: JetStream
	// drops messages at MaxAge whether or not a consumer has acked them.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultDuplicateWindow is how long JetStream remembers Nats-Msg-Id
	// values to drop retried publishes.
	DefaultDuplicateWindow = 2 * time.Minute
)

// ErrStreamMisconfigured means the existing REVOCATIONS stream cannot give
// the guarantees asked for (wrong subjects, retention shorter than the
// longest token lifetime, no duplicate window).
var ErrStreamMisconfigured = errors.New("events: stream misconfigured")

// ErrReplicasUnset means the connected NATS server is part of a cluster,
// StreamConfig.Replicas is 0 (not chosen) and the stream would keep a
// single copy of every revocation: losing one server would lose them.
// Set Replicas to 3, or to 1 to accept a single copy. Nothing was created.
// It wraps ErrStreamMisconfigured too: retrying does not cure it.
var ErrReplicasUnset = fmt.Errorf("%w: replicas not set on a NATS cluster", ErrStreamMisconfigured)

// StreamConfig says what the caller needs from the REVOCATIONS stream.
type StreamConfig struct {
	// MinMaxAge is the shortest acceptable retention: at least the longest
	// token lifetime. An existing stream that keeps less is refused.
	MinMaxAge time.Duration
	// MaxAge is the retention used when the stream is created; defaults to
	// DefaultMaxAge, and is raised to MinMaxAge if below it.
	MaxAge time.Duration
	// DuplicateWindow defaults to DefaultDuplicateWindow.
	DuplicateWindow time.Duration
	// Replicas is how many copies of the stream JetStream keeps (1-5).
	// 0 means not chosen: 1 on a single server, refused with
	// ErrReplicasUnset on a cluster unless the existing stream already has
	// more than one. Use 3 on a cluster of 3; set 1 explicitly to accept a
	// single copy there. An existing stream with fewer replicas is raised
	// by EnsureStream and refused by CheckStream; one with more is kept.
	Replicas int
	// ReplicasSetting names the caller's setting of Replicas (an
	// environment variable such as AUTH_STREAM_REPLICAS) in the message
	// of ErrReplicasUnset; empty: "StreamConfig.Replicas".
	ReplicasSetting string
}

// Clustered reports whether the server nc is connected to is part of a
// cluster (its INFO names one), and how many servers the client knows of
// (those of NATS_URL and those the cluster advertises).
func Clustered(nc *nats.Conn) (name string, servers int) {
	if nc == nil {
		return "", 0
	}
	name = nc.ConnectedClusterName()
	if name == "" {
		return "", 0
	}
	return name, len(nc.Servers())
}

// JetStreamConfig returns the stream configuration EnsureStream creates.
func (c StreamConfig) JetStreamConfig() jetstream.StreamConfig {
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	maxAge = max(maxAge, c.MinMaxAge)
	dup := c.DuplicateWindow
	if dup == 0 {
		dup = DefaultDuplicateWindow
	}
	replicas := max(c.Replicas, 1)
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "JWT revocations (pkg/events)",
		Subjects:    []string{SubjectAll},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      maxAge,
		Duplicates:  dup,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
	}
}

// EnsureStream creates the REVOCATIONS stream if it does not exist, and
// otherwise checks that the existing one covers the revocation subjects,
// keeps messages at least MinMaxAge and de-duplicates. It never weakens an
// existing stream: operators own its settings. The one thing it changes
// is the number of replicas, raised to cfg.Replicas when the existing
// stream has fewer (JetStream copies the stream to the new peers online).
// On a cluster with cfg.Replicas unset it creates nothing and returns
// ErrReplicasUnset (see StreamConfig.Replicas).
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := replicasChosen(js, cfg, 0); err != nil {
			return nil, err
		}
		s, err = js.CreateStream(ctx, cfg.JetStreamConfig())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, StreamName) // created concurrently
		}
	}
	if err != nil {
		return nil, fmt.Errorf("events: ensure stream %s: %w", StreamName, err)
	}
	if got := s.CachedInfo().Config; cfg.Replicas > got.Replicas && got.Replicas > 0 {
		got.Replicas = cfg.Replicas
		if s, err = js.UpdateStream(ctx, got); err != nil {
			return nil, fmt.Errorf("events: raise stream %s to %d replicas: %w", StreamName, cfg.Replicas, err)
		}
	}
	return checkStream(js, s, cfg)
}

// replicasChosen refuses an unset cfg.Replicas on a cluster when the
// stream would keep a single copy (have is the existing stream's
// replicas, 0 when it does not exist).
func replicasChosen(js jetstream.JetStream, cfg StreamConfig, have int) error {
	if cfg.Replicas != 0 || have > 1 {
		return nil
	}
	name, servers := Clustered(js.Conn())
	if name == "" {
		return nil
	}
	setting := cfg.ReplicasSetting
	if setting == "" {
		setting = "StreamConfig.Replicas"
	}
	return fmt.Errorf("%w: NATS is a cluster (%q, %d servers known to this client): set %s=3, or =1 to accept a single copy of every revocation in stream %s",
		ErrReplicasUnset, name, servers, setting, StreamName)
}

// checkStream refuses a stream that cannot give the guarantees cfg asks for.
func checkStream(js jetstream.JetStream, s jetstream.Stream, cfg StreamConfig) (jetstream.Stream, error) {
	got := s.CachedInfo().Config
	if err := replicasChosen(js, cfg, got.Replicas); err != nil {
		return nil, err
	}
	if got.Replicas < cfg.Replicas {
		return nil, fmt.Errorf("%w: %d replicas, fewer than the required %d", ErrStreamMisconfigured, got.Replicas, cfg.Replicas)
	}
	if !slices.Contains(got.Subjects, SubjectAll) {
		return nil, fmt.Errorf("%w: subjects %v do not include %q", ErrStreamMisconfigured, got.Subjects, SubjectAll)
	}
	if got.MaxAge != 0 && got.MaxAge < cfg.MinMaxAge {
		return nil, fmt.Errorf("%w: max age %s is shorter than the required %s", ErrStreamMisconfigured, got.MaxAge, cfg.MinMaxAge)
	}
	if got.Duplicates <= 0 {
		return nil, fmt.Errorf("%w: duplicate window is off", ErrStreamMisconfigured)
	}
	return s, nil
}
