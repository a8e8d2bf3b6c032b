package revocation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Reasons an event gives for a revocation, the value of Event.Reason
// (docs/CONTRACT.md, "Reasons and actors"). Decode accepts any reason of
// at most 256 bytes, so that a newer producer's reason does not make an
// older consumer drop the revocation; KnownReason tells the ones this
// build knows.
const (
	ReasonLogout            = "logout"              // the user logged out one token (and its session)
	ReasonLogoutAll         = "logout_all"          // the user logged out every device
	ReasonSessionRevoked    = "session_revoked"     // the user ended one of their sessions
	ReasonRefreshTokenReuse = "refresh_token_reuse" // a spent refresh token came back: the session is stolen
	ReasonCredentialChange  = "credential_change"   // the password changed: every other session ends
	ReasonAdmin             = "admin"               // an administrator revoked
	ReasonKeyCompromise     = "key_compromise"      // tokens of a compromised signing key
	ReasonIDPLogout         = "idp_logout"          // an identity provider's back-channel logout
	ReasonIDPEvent          = "idp_event"           // an identity provider's security event (SSF/CAEP)
)

var knownReasons = []string{
	ReasonLogout, ReasonLogoutAll, ReasonSessionRevoked, ReasonRefreshTokenReuse,
	ReasonCredentialChange, ReasonAdmin, ReasonKeyCompromise, ReasonIDPLogout, ReasonIDPEvent,
}

// KnownReason reports whether r is one of the Reason constants.
func KnownReason(r string) bool { return slices.Contains(knownReasons, r) }

// Actor types, the value of Actor.Type.
const (
	ActorUser   = "user"   // the user the event is about, or another user
	ActorClient = "client" // an OAuth client (a service, an operator's tool)
	ActorSystem = "system" // a component acting by itself (reuse detection, intake)
)

// Actor is who caused a revocation: {"type":"user"|"client"|"system","id"}.
// The zero Actor (not known) is left out of the JSON body.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// UserActor returns the actor of a user acting on their own account.
func UserActor(id string) Actor { return Actor{Type: ActorUser, ID: id} }

// ClientActor returns the actor of an OAuth client.
func ClientActor(id string) Actor { return Actor{Type: ActorClient, ID: id} }

// SystemActor returns the actor of a component, named by id ("auth").
func SystemActor(id string) Actor { return Actor{Type: ActorSystem, ID: id} }

// IsZero reports whether a is the zero Actor (encoding/json's omitzero).
func (a Actor) IsZero() bool { return a == Actor{} }

// validate checks the type (one of the Actor constants, or empty for a
// version 1 body's actor) and bounds the id.
func (a Actor) validate() error {
	switch a.Type {
	case "", ActorUser, ActorClient, ActorSystem:
	default:
		return fmt.Errorf("%w: actor type %q is not user, client or system", ErrInvalidEvent, short(a.Type))
	}
	if len(a.ID) > maxTextLen {
		return fmt.Errorf("%w: actor id is limited to %d bytes", ErrInvalidEvent, maxTextLen)
	}
	return nil
}

// UnmarshalJSON reads an actor object, or the string a version 1 body
// carried (read as Actor{ID: s}). Member names must be exactly "type" and
// "id": encoding/json alone would bind "ID" or "Type" too, and a consumer
// with another parser could then read another actor.
func (a *Actor) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("actor: %w", err)
		}
		*a = Actor{ID: s}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("actor: %w", err)
	}
	var out Actor
	for name, raw := range m {
		var dst *string
		switch name {
		case "type":
			dst = &out.Type
		case "id":
			dst = &out.ID
		default:
			if foldEqual([]byte(name), []byte("type")) || foldEqual([]byte(name), []byte("id")) {
				return fmt.Errorf("actor: member name %q differs from type or id only by case", short(name))
			}
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("actor: %s: %w", name, err)
		}
	}
	*a = out
	return nil
}

// short quotes at most 32 bytes of an attacker-controlled s for an error.
func short(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return s
}
