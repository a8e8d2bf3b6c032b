package revocation

import "errors"

// Message is one message read from the stream, whatever the transport.
type Message struct {
	// Subject is the subject the message arrived on.
	Subject string
	// Data is the message body.
	Data []byte
	// Seq is the stream sequence.
	Seq uint64
}

// Decoded is an event decoded from a message of a batch.
type Decoded struct {
	// Index is the position of the message in the batch given to
	// DecodeBatch, so that a consumer can ack the message it came from.
	Index int
	// Seq and Subject are the message's.
	Seq     uint64
	Subject string
	// Event is the decoded, validated event.
	Event Event
}

// Invalid reports a message that can never be processed: it must be
// dropped (terminated, never retried), logged and counted.
type Invalid struct {
	// Index is the position of the message in the batch.
	Index   int
	Seq     uint64
	Subject string
	// Err says why, wrapping ErrInvalidEvent, ErrUnsupportedSchema or
	// ErrSubjectMismatch.
	Err error
}

// Reason returns a short, fixed reason for Err, fit for a JetStream
// TermWithReason or a metric label.
func (i Invalid) Reason() string { return TermReason(i.Err) }

// DecodeBatch decodes every message with DecodeMsg, in order: events are
// the messages that decoded, invalid the ones that never will. Every
// consumer of the stream decodes with it, so that all of them accept and
// refuse the same messages; what each does with an invalid one (terminate,
// count, log) is its own.
func DecodeBatch(msgs []Message) (events []Decoded, invalid []Invalid) {
	events = make([]Decoded, 0, len(msgs))
	for i, m := range msgs {
		ev, err := DecodeMsg(m.Subject, m.Data)
		if err != nil {
			invalid = append(invalid, Invalid{Index: i, Seq: m.Seq, Subject: m.Subject, Err: err})
			continue
		}
		events = append(events, Decoded{Index: i, Seq: m.Seq, Subject: m.Subject, Event: ev})
	}
	return events, invalid
}

// Reasons TermReason returns.
const (
	ReasonInvalid           = "invalid event"
	ReasonUnsupportedSchema = "unsupported schema version"
	ReasonSubjectMismatch   = "subject does not match event"
)

// TermReason returns a short reason for an error of Decode or DecodeMsg:
// ReasonUnsupportedSchema, ReasonSubjectMismatch or ReasonInvalid.
func TermReason(err error) string {
	switch {
	case errors.Is(err, ErrUnsupportedSchema):
		return ReasonUnsupportedSchema
	case errors.Is(err, ErrSubjectMismatch):
		return ReasonSubjectMismatch
	default:
		return ReasonInvalid
	}
}
