package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	// Replicas defaults to 1; use 3 in a clustered deployment.
	Replicas int
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
// existing stream: operators own its settings.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg.JetStreamConfig())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, StreamName) // created concurrently
		}
	}
	if err != nil {
		return nil, fmt.Errorf("events: ensure stream %s: %w", StreamName, err)
	}
	return checkStream(s, cfg)
}

// checkStream refuses a stream that cannot give the guarantees cfg asks for.
func checkStream(s jetstream.Stream, cfg StreamConfig) (jetstream.Stream, error) {
	got := s.CachedInfo().Config
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
