// Package events publishes and consumes the revocation events of package
// revocation over NATS JetStream: the REVOCATIONS stream's configuration
// (EnsureStream, CheckStream), a Publisher that waits for JetStream to
// store each event, subscribers that hand each valid event to a handler
// and drop invalid ones, and UserRevocations, which reads one user's
// history from the stream.
//
// There are two ways to subscribe, both optionally narrowed to one user
// (UserID):
//
//   - shared (Subscribe, SubscribeExisting): a durable consumer with
//     explicit acks whose messages are split across the replicas of a
//     service, so that one of them acts on each event; a new durable can
//     begin at a time (SubscribeConfig.StartAt);
//   - broadcast (Broadcast): an ordered consumer per replica, so that every
//     replica sees every event, from now, from a time or from a sequence.
//
// A replay of history begins at a time, not at the first message of a
// stream whose retention may be long: now - (longest token lifetime +
// leeway) holds every event that can still matter.
//
// Publishing a revocation and waiting for JetStream to store it:
//
//	ev := events.TokenRevoked{UserID: sub, JTI: jti, ExpiresAt: exp}.Event(time.Now())
//	ack, err := events.NewPublisher(js).Publish(ctx, ev)
//
// Reacting to revocations in another microservice, once per event:
//
//	sub, err := events.Subscribe(ctx, js, events.SubscribeConfig{Durable: "billing"},
//		func(ctx context.Context, ev events.Event, meta events.Meta) error { return nil })
//
// On every replica (closing the revoked users' connections it holds):
//
//	sub, err := events.Broadcast(ctx, js, events.BroadcastConfig{}, closeRevoked)
//	defer sub.Stop()
//
// Reading one user's revocation history (the stream is the audit log):
//
//	recs, more, err := events.UserRevocations(ctx, js, userID, events.HistoryOptions{})
//
// The events themselves, their subjects, encoding and expiry rules live
// in package revocation, which needs no NATS; the names below are the
// same types, constants and functions, kept here so that a caller needs
// only this package.
package events

import (
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Stream and subject names (revocation.StreamName and the others).
const (
	// StreamName is the JetStream stream that stores every revocation.
	StreamName = revocation.StreamName
	// SubjectAll matches every revocation subject.
	SubjectAll = revocation.SubjectAll
	// SubjectTokenPrefix is followed by the user id; carries TokenRevoked.
	SubjectTokenPrefix = revocation.SubjectTokenPrefix
	// SubjectUserPrefix is followed by the user id; carries UserTokensRevoked.
	SubjectUserPrefix = revocation.SubjectUserPrefix
	// SubjectSessionPrefix is followed by the user id; carries
	// SessionRevoked.
	SubjectSessionPrefix = revocation.SubjectSessionPrefix
	// SubjectApplied is the core NATS subject of Applied announcements.
	SubjectApplied = revocation.SubjectApplied
)

// Event types, the value of Event.Type.
const (
	TypeTokenRevoked      = revocation.TypeTokenRevoked
	TypeUserTokensRevoked = revocation.TypeUserTokensRevoked
	TypeSessionRevoked    = revocation.TypeSessionRevoked
)

// Reasons, the value of Event.Reason (revocation.ReasonLogout and the
// others).
const (
	ReasonLogout            = revocation.ReasonLogout
	ReasonLogoutAll         = revocation.ReasonLogoutAll
	ReasonSessionRevoked    = revocation.ReasonSessionRevoked
	ReasonRefreshTokenReuse = revocation.ReasonRefreshTokenReuse
	ReasonCredentialChange  = revocation.ReasonCredentialChange
	ReasonAdmin             = revocation.ReasonAdmin
	ReasonKeyCompromise     = revocation.ReasonKeyCompromise
	ReasonIDPLogout         = revocation.ReasonIDPLogout
	ReasonIDPEvent          = revocation.ReasonIDPEvent
)

// Actor types, the value of Actor.Type.
const (
	ActorUser   = revocation.ActorUser
	ActorClient = revocation.ActorClient
	ActorSystem = revocation.ActorSystem
)

// Limits of the event body (see package revocation).
const (
	// SchemaVersion is the version of the event body Encode writes.
	SchemaVersion = revocation.SchemaVersion
	// MaxEventSize bounds an encoded event.
	MaxEventSize = revocation.MaxEventSize
	// MaxVersion is the largest user token version an event may carry: 2^53.
	MaxVersion = revocation.MaxVersion
)

// Sentinel errors returned (wrapped) by Decode and Validate.
var (
	// ErrInvalidEvent means the payload can never be processed.
	ErrInvalidEvent = revocation.ErrInvalidEvent
	// ErrUnsupportedSchema means the body declares a newer schema version.
	ErrUnsupportedSchema = revocation.ErrUnsupportedSchema
	// ErrSubjectMismatch means the subject does not match the body.
	ErrSubjectMismatch = revocation.ErrSubjectMismatch
)

type (
	// Event is the JSON body of every message on the revocation subjects.
	Event = revocation.Event
	// TokenRevoked revokes one token, identified by its jti, until it expires.
	TokenRevoked = revocation.TokenRevoked
	// UserTokensRevoked revokes every token of a user whose version is
	// below Version.
	UserTokensRevoked = revocation.UserTokensRevoked
	// SessionRevoked revokes every token of one session (the sid claim).
	SessionRevoked = revocation.SessionRevoked
	// Actor is who caused a revocation.
	Actor = revocation.Actor
	// Retention holds the settings that bound how long a revocation
	// protects anything; Retention.Expiry is the expiry rule every view
	// applies.
	Retention = revocation.Retention
	// Applied is the announcement the revocation service publishes on
	// SubjectApplied after writing events to Redis.
	Applied = revocation.Applied
)

// Encode validates the event and returns its JSON body.
func Encode(e Event) ([]byte, error) { return revocation.Encode(e) }

// Decode parses and validates a JSON event body, strictly.
func Decode(data []byte) (Event, error) { return revocation.Decode(data) }

// DecodeMsg decodes a message body and checks that it arrived on the
// subject its content belongs to.
func DecodeMsg(subject string, data []byte) (Event, error) {
	return revocation.DecodeMsg(subject, data)
}

// UserActor returns the actor of a user acting on their own account.
func UserActor(id string) Actor { return revocation.UserActor(id) }

// ClientActor returns the actor of an OAuth client.
func ClientActor(id string) Actor { return revocation.ClientActor(id) }

// SystemActor returns the actor of a component, named by id.
func SystemActor(id string) Actor { return revocation.SystemActor(id) }

// KnownReason reports whether r is one of the Reason constants.
func KnownReason(r string) bool { return revocation.KnownReason(r) }

// IsUUID reports whether s is a UUID in its canonical, lower-case form.
func IsUUID(s string) bool { return revocation.IsUUID(s) }

// RangesOf folds sequences into sorted, inclusive runs.
func RangesOf(seqs []uint64) [][2]uint64 { return revocation.RangesOf(seqs) }

// EncodeApplied returns the JSON body of an announcement.
func EncodeApplied(a Applied) ([]byte, error) { return revocation.EncodeApplied(a) }

// DecodeApplied parses an announcement.
func DecodeApplied(data []byte) (Applied, error) { return revocation.DecodeApplied(data) }

// TermReason returns a short reason for TermWithReason.
func TermReason(err error) string { return revocation.TermReason(err) }
