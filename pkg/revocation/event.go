package revocation

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Event types, the value of Event.Type.
const (
	TypeTokenRevoked      = "token.revoked"
	TypeUserTokensRevoked = "user.tokens_revoked"
	TypeSessionRevoked    = "session.revoked"
)

// SchemaVersion is the version of the event body this package writes.
// Decoders accept bodies without the field (treated as version 1) and refuse
// newer versions they do not understand. Version 2 added session.revoked,
// sid and the actor object; a version 1 body's actor string is read as
// Actor{ID: s}.
const SchemaVersion = 2

// MaxEventSize bounds an encoded event; larger payloads are refused by Decode.
const MaxEventSize = 16 << 10

// MaxVersion is the largest user token version an event may carry: 2^53,
// the largest integer every consumer in any language holds exactly (a
// JavaScript number, a float64, a Lua number in Redis scripts). Validate
// refuses larger versions: a version near the top of int64 would leave no
// room to raise it again, so one such event would disable
// logout-all-devices for that user for good.
const MaxVersion int64 = 1 << 53

// maxTextLen bounds the free-text fields reason and actor.id.
const maxTextLen = 256

// Sentinel errors returned (wrapped) by Decode and Validate.
var (
	// ErrInvalidEvent means the payload can never be processed: malformed
	// JSON, a missing or malformed field, an unknown type.
	ErrInvalidEvent = errors.New("revocation: invalid event")
	// ErrUnsupportedSchema means the body declares a schema version newer
	// than this package understands.
	ErrUnsupportedSchema = errors.New("revocation: unsupported schema version")
	// ErrSubjectMismatch means the subject a message arrived on does not
	// match its body (wrong prefix or another user's id).
	ErrSubjectMismatch = errors.New("revocation: subject does not match event")
)

// Event is the JSON body of every message on the revocation subjects.
// Token events carry JTI and ExpiresAt; session events carry SessionID and
// ExpiresAt (the latest expiry of any access token of the session); user
// events carry Version and, when the publisher knows it, ExpiresAt: the
// instant by which every token issued before the event has expired. Reason
// (one of the Reason constants) and Actor say why and who, for the audit
// log the stream is.
type Event struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	OccurredAt    time.Time `json:"occurred_at"`
	UserID        string    `json:"user_id"`
	JTI           string    `json:"jti,omitempty"`
	SessionID     string    `json:"sid,omitempty"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	Version       int64     `json:"version,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Actor         Actor     `json:"actor,omitzero"`
}

// TokenRevoked revokes one token, identified by its jti, until it expires.
type TokenRevoked struct {
	UserID    string
	JTI       string
	ExpiresAt time.Time
	Reason    string
	Actor     Actor
}

// Event returns the event to publish, with a new random id: publishing the
// returned event again (a retry) is stored once within the duplicate
// window, and no one can predict the id to store another event under it
// first. (Ids derived from the jti let anyone who could publish pre-empt
// the owner's logout with a short-lived event of the same id: the owner's
// was then dropped as a duplicate.)
func (t TokenRevoked) Event(now time.Time) Event {
	return Event{
		SchemaVersion: SchemaVersion,
		ID:            uuid.NewString(),
		Type:          TypeTokenRevoked,
		OccurredAt:    now.UTC(),
		UserID:        t.UserID,
		JTI:           t.JTI,
		ExpiresAt:     t.ExpiresAt.UTC(),
		Reason:        t.Reason,
		Actor:         t.Actor,
	}
}

// UserTokensRevoked revokes every token of a user whose version is below
// Version. ExpiresAt, when set, is when the last token issued before the
// event expires; consumers keep the version at least until then.
type UserTokensRevoked struct {
	UserID    string
	Version   int64
	ExpiresAt time.Time
	Reason    string
	Actor     Actor
}

// Event returns the event to publish, with a new random id (see
// TokenRevoked.Event).
func (u UserTokensRevoked) Event(now time.Time) Event {
	ev := Event{
		SchemaVersion: SchemaVersion,
		ID:            uuid.NewString(),
		Type:          TypeUserTokensRevoked,
		OccurredAt:    now.UTC(),
		UserID:        u.UserID,
		Version:       u.Version,
		Reason:        u.Reason,
		Actor:         u.Actor,
	}
	if !u.ExpiresAt.IsZero() {
		ev.ExpiresAt = u.ExpiresAt.UTC()
	}
	return ev
}

// SessionRevoked revokes every token of one session (the sid claim):
// access tokens until ExpiresAt, the latest expiry of any access token
// issued for the session.
type SessionRevoked struct {
	UserID    string
	SessionID string
	ExpiresAt time.Time
	Reason    string
	Actor     Actor
}

// Event returns the event to publish, with a new random id (see
// TokenRevoked.Event).
func (s SessionRevoked) Event(now time.Time) Event {
	return Event{
		SchemaVersion: SchemaVersion,
		ID:            uuid.NewString(),
		Type:          TypeSessionRevoked,
		OccurredAt:    now.UTC(),
		UserID:        s.UserID,
		SessionID:     s.SessionID,
		ExpiresAt:     s.ExpiresAt.UTC(),
		Reason:        s.Reason,
		Actor:         s.Actor,
	}
}

// Subject returns the subject the event is published on.
func (e Event) Subject() string { return e.subjectPrefix() + e.UserID }

// subjectPrefix returns the prefix of the event's subject, which the
// user id follows.
func (e Event) subjectPrefix() string {
	switch e.Type {
	case TypeUserTokensRevoked:
		return SubjectUserPrefix
	case TypeSessionRevoked:
		return SubjectSessionPrefix
	}
	return SubjectTokenPrefix
}

// onSubject reports whether subject == e.Subject(), without building it.
func (e Event) onSubject(subject string) bool {
	rest, ok := strings.CutPrefix(subject, e.subjectPrefix())
	return ok && rest == e.UserID
}

// Validate reports whether the event is well formed. User ids are checked to
// be UUIDs, which also makes them safe subject tokens.
func (e Event) Validate() error {
	if e.SchemaVersion > SchemaVersion {
		return fmt.Errorf("%w: %d (this build understands up to %d)", ErrUnsupportedSchema, e.SchemaVersion, SchemaVersion)
	}
	if e.SchemaVersion < 0 {
		return fmt.Errorf("%w: negative schema_version", ErrInvalidEvent)
	}
	if !IsUUID(e.ID) {
		return fmt.Errorf("%w: id must be a UUID", ErrInvalidEvent)
	}
	if !IsUUID(e.UserID) {
		return fmt.Errorf("%w: user_id must be a UUID", ErrInvalidEvent)
	}
	if e.OccurredAt.IsZero() {
		return fmt.Errorf("%w: occurred_at is required", ErrInvalidEvent)
	}
	if len(e.Reason) > maxTextLen {
		return fmt.Errorf("%w: reason is limited to %d bytes", ErrInvalidEvent, maxTextLen)
	}
	if err := e.Actor.validate(); err != nil {
		return err
	}
	switch e.Type {
	case TypeTokenRevoked:
		if !IsUUID(e.JTI) {
			return fmt.Errorf("%w: jti must be a UUID", ErrInvalidEvent)
		}
		if e.SessionID != "" {
			return fmt.Errorf("%w: sid is not allowed on %s", ErrInvalidEvent, e.Type)
		}
		return e.validateExpiring()
	case TypeSessionRevoked:
		if !IsUUID(e.SessionID) {
			return fmt.Errorf("%w: sid must be a UUID", ErrInvalidEvent)
		}
		if e.JTI != "" {
			return fmt.Errorf("%w: jti is not allowed on %s", ErrInvalidEvent, e.Type)
		}
		return e.validateExpiring()
	case TypeUserTokensRevoked:
		if e.Version < 1 {
			return fmt.Errorf("%w: version must be a positive integer", ErrInvalidEvent)
		}
		if e.Version > MaxVersion {
			return fmt.Errorf("%w: version %d exceeds %d", ErrInvalidEvent, e.Version, MaxVersion)
		}
		if e.JTI != "" || e.SessionID != "" {
			return fmt.Errorf("%w: jti and sid are not allowed on %s", ErrInvalidEvent, e.Type)
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidEvent, e.Type)
	}
	return nil
}

// validateExpiring checks what token and session events share: an
// expires_at and no version.
func (e Event) validateExpiring() error {
	if e.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: expires_at is required for %s", ErrInvalidEvent, e.Type)
	}
	if e.Version != 0 {
		return fmt.Errorf("%w: version is not allowed on %s", ErrInvalidEvent, e.Type)
	}
	return nil
}

// Encode validates the event and returns its JSON body.
func Encode(e Event) ([]byte, error) {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("revocation: encode: %w", err)
	}
	return b, nil
}

// Decode parses and validates a JSON event body. Unknown fields are ignored
// so that newer producers can add optional fields. The body is read as
// strictly as pkg/jwtx reads a token: exactly one JSON object of valid
// UTF-8, no member given twice at any level, and no member whose name
// differs from a field of Event only by case ("JTI", "Jti").
//
// Bodies in the form this package writes are read in the same single pass
// that checks them (fastEvent); any other form goes through encoding/json,
// with the same result.
func Decode(data []byte) (Event, error) {
	if len(data) > MaxEventSize {
		return Event{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidEvent, len(data), MaxEventSize)
	}
	fields, err := checkStrict(data)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	e, ok := fastEvent(&fields)
	if !ok {
		if e, err = unmarshal(data); err != nil {
			return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = SchemaVersion
	}
	return e, nil
}

// unmarshal is encoding/json's reading of data (in a function of its own
// so that only this path pays for the Event escaping to the heap).
func unmarshal(data []byte) (Event, error) {
	var e Event
	err := json.Unmarshal(data, &e)
	return e, err
}

// DecodeMsg decodes a message body and checks that it arrived on the subject
// its content belongs to, so a message for one user cannot be smuggled in
// under another user's subject.
func DecodeMsg(subject string, data []byte) (Event, error) {
	e, err := Decode(data)
	if err != nil {
		return Event{}, err
	}
	if !e.onSubject(subject) {
		return Event{}, fmt.Errorf("%w: %q carries a %s for user %s", ErrSubjectMismatch, subject, e.Type, e.UserID)
	}
	return e, nil
}

// IsUUID reports whether s is a UUID in its canonical form: 36 characters,
// hyphenated, lower-case hex. Upper case is refused so that one user has
// one subject and one Redis key: pkg/jwtx requires the same of sub and jti,
// through this function. It does not allocate.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
