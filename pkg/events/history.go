package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Record is one message of a user's revocation history, as the stream
// stores it: the stream is the audit log, there is no second store.
type Record struct {
	// Sequence is the stream sequence; Subject the subject it was stored on.
	Sequence uint64
	Subject  string
	// Stored is when JetStream stored the message.
	Stored time.Time
	// Event is the decoded event, with its reason, actor and occurred_at;
	// zero when Err is set.
	Event Event
	// Err is set for a message that is not a valid event (it was never
	// applied: consumers drop it); it wraps ErrInvalidEvent,
	// ErrUnsupportedSchema or ErrSubjectMismatch.
	Err error
}

// History limits.
const (
	// DefaultHistoryLimit is the number of records UserRevocations returns
	// when HistoryOptions.Limit is 0.
	DefaultHistoryLimit = 1000
	// MaxHistoryLimit bounds HistoryOptions.Limit.
	MaxHistoryLimit = 10_000
)

// HistoryOptions selects part of a user's history.
type HistoryOptions struct {
	// AfterSequence, when set, starts after this stream sequence (the last
	// Record.Sequence of a previous page).
	AfterSequence uint64
	// Since, when set (and AfterSequence is not), starts at the first
	// message stored at or after this time.
	Since time.Time
	// Limit bounds the records returned; 0 means DefaultHistoryLimit, at
	// most MaxHistoryLimit.
	Limit int
}

// ErrBadUserID means the user id is not a canonical UUID, so it names no
// subject.
var ErrBadUserID = errors.New("events: user id is not a canonical UUID")

// UserSubjects returns the subjects that carry the revocations of userID:
// its token, user and session subjects.
func UserSubjects(userID string) []string {
	return []string{
		revocation.SubjectTokenPrefix + userID,
		revocation.SubjectUserPrefix + userID,
		revocation.SubjectSessionPrefix + userID,
	}
}

// UserRevocations returns the revocation events of one user in stream
// order, read from the stream with a short-lived ordered consumer filtered
// on the user's subjects (UserSubjects): JetStream sends only that user's
// messages. more reports that the page ended at Limit with messages left;
// ask again with AfterSequence set to the last record's Sequence. It reads
// what the stream held when it was called and returns within ctx.
func UserRevocations(ctx context.Context, js jetstream.JetStream, userID string, opts HistoryOptions) (records []Record, more bool, err error) {
	if !revocation.IsUUID(userID) {
		return nil, false, fmt.Errorf("%w: %q", ErrBadUserID, short(userID))
	}
	limit := opts.Limit
	switch {
	case limit < 0 || limit > MaxHistoryLimit:
		return nil, false, fmt.Errorf("events: history limit %d outside 0..%d", limit, MaxHistoryLimit)
	case limit == 0:
		limit = DefaultHistoryLimit
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: UserSubjects(userID), DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case opts.AfterSequence > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, opts.AfterSequence+1
	case !opts.Since.IsZero():
		since := opts.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, StreamName, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("events: history of %s: %w", userID, err)
	}
	info := cons.CachedInfo()
	if info == nil {
		if info, err = cons.Info(ctx); err != nil {
			return nil, false, fmt.Errorf("events: history of %s: consumer info: %w", userID, err)
		}
	}
	pending := info.NumPending // the user's messages stored when the consumer was created
	want := int(min(pending, uint64(limit)))
	for len(records) < want {
		batch, err := cons.Fetch(min(want-len(records), 256), jetstream.FetchMaxWait(fetchWait(ctx)))
		if err != nil {
			return records, false, fmt.Errorf("events: history of %s: %w", userID, err)
		}
		for msg := range batch.Messages() {
			records = append(records, record(msg))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return records, false, fmt.Errorf("events: history of %s: %w", userID, err)
		}
		if err := ctx.Err(); err != nil {
			return records, false, fmt.Errorf("events: history of %s: %w", userID, err)
		}
	}
	return records, pending > uint64(want), nil
}

// fetchWait is the wait of one Fetch: a second, or less when ctx ends
// sooner.
func fetchWait(ctx context.Context) time.Duration {
	wait := time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	return max(wait, 10*time.Millisecond)
}

// record turns a stored message into a Record.
func record(msg jetstream.Msg) Record {
	r := Record{Subject: msg.Subject()}
	if meta, err := msg.Metadata(); err == nil {
		r.Sequence, r.Stored = meta.Sequence.Stream, meta.Timestamp
	}
	ev, err := revocation.DecodeMsg(msg.Subject(), msg.Data())
	if err != nil {
		r.Err = err
		return r
	}
	r.Event = ev
	return r
}

// short bounds an attacker-controlled string for an error message.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
