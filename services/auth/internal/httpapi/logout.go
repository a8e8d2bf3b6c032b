package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
)

// pendingBody is the 202 answer: durable, not yet seen enforced.
var pendingBody = struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}{"pending", "revocation is durable and will be enforced shortly"}

// parseBearer returns the claims of the request's bearer token after the
// signature and claims checks, without asking Redis: logging out must work
// while Redis is down, and repeating it must be accepted.
func (s *Server) parseBearer(r *http.Request) (*jwtx.Claims, error) {
	token, err := jwtx.BearerToken(r)
	if err != nil {
		return nil, err
	}
	return s.validator.Parse(token)
}

// sessionReasons maps an endpoint to the reason of the sessions it ends.
var sessionReasons = map[string]string{
	"logout":             account.ReasonLogout,
	"logout_all_devices": account.ReasonLogoutAll,
	"session_revoked":    account.ReasonSessionRevoked,
	"credential_change":  account.ReasonCredentialChange,
}

// logout: POST /v1/auth/logout revokes the presented token by its jti
// (account.Logout).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, "logout", s.accounts.Logout)
}

// logoutAllDevices: POST /v1/auth/logout-all-devices revokes every token
// of the user (account.LogoutAll).
func (s *Server) logoutAllDevices(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, "logout_all_devices", s.accounts.LogoutAll)
}

// revoke runs a revocation for the bearer token's claims and answers its
// outcome: 204 enforced, 202 pending, or the error (503 when durability
// was not confirmed).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, endpoint string,
	run func(ctx context.Context, claims *jwtx.Claims) (account.Revocation, error)) {
	claims, err := s.parseBearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerRevocation(w, r, endpoint, func(ctx context.Context) (account.Revocation, error) { return run(ctx, claims) })
}

// answerRevocation runs a revocation and answers its outcome: 204
// enforced, 202 pending, or the error (503 when durability was not
// confirmed).
func (s *Server) answerRevocation(w http.ResponseWriter, r *http.Request, endpoint string,
	run func(ctx context.Context) (account.Revocation, error)) {
	rev, err := run(r.Context())
	if err != nil {
		if errors.Is(err, account.ErrUnavailable) {
			s.metrics.logouts.WithLabelValues(endpoint, "503").Inc()
		}
		s.fail(w, r, err)
		return
	}
	if reason, ok := sessionReasons[endpoint]; ok {
		s.metrics.sessionsRevoked.WithLabelValues(reason).Inc()
	}
	if rev.Outcome == account.Enforced {
		s.metrics.logouts.WithLabelValues(endpoint, "204").Inc()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.metrics.logouts.WithLabelValues(endpoint, "202").Inc()
	s.logger.InfoContext(r.Context(), "revocation durable, not yet enforced",
		"event", rev.Event.ID, "type", rev.Event.Type, "seq", rev.Ack.Sequence)
	writeJSON(w, http.StatusAccepted, pendingBody)
}
