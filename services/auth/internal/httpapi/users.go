package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
)

// register: POST /v1/auth/register -> 201 {"user_id"}. Attempts count
// against the client address's limit once the body is valid.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeCredentials(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := account.ValidateRegistration(req.Username, req.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if err := s.allow(ctx, s.ipRule(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.accounts.Register(ctx, req.Username, req.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		UserID string `json:"user_id"`
	}{id})
}

// tokenResponse is the body of a successful login (RFC 6749 section 5.1).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	// RefreshToken and RefreshExpiresIn are set when sessions are on.
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
}

// login: POST /v1/auth/login -> 200 token. Unknown users and wrong
// passwords get the same answer after the same work (account.Login), and
// both count as failures for the username: a 429 does not tell whether
// the user exists either.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeCredentials(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := account.ValidateLogin(req.Username, req.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	userRule := s.userRule(req.Username)
	if err := s.allow(ctx, s.ipRule(r), userRule); err != nil {
		s.fail(w, r, err)
		return
	}
	tok, err := s.accounts.LoginClient(ctx, req.Username, req.Password, s.client(r))
	switch {
	case errors.Is(err, account.ErrUnknownUser):
		s.metrics.loginFailures.WithLabelValues("unknown_user").Inc()
	case errors.Is(err, account.ErrWrongPassword):
		s.metrics.loginFailures.WithLabelValues("wrong_password").Inc()
	default:
		// Not a failed guess (success, or the check could not run): the
		// per-username counter is about failures only.
		s.refund(ctx, userRule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenBody(tok, s.now()))
}

// meResponse is the body of GET /v1/auth/me.
type meResponse struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	JTI       string `json:"jti"`
	ExpiresAt string `json:"expires_at"`
}

// me: GET /v1/auth/me, behind the jwtx middleware (full validation).
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	claims, ok := jwtx.ClaimsFromContext(r.Context())
	if !ok {
		s.fail(w, r, errors.New("httpapi: me without claims"))
		return
	}
	u, err := s.accounts.User(r.Context(), claims.Subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meResponse{
		UserID:    u.ID,
		Username:  u.Username,
		JTI:       claims.ID,
		ExpiresAt: claims.ExpiresAt.UTC().Format(time.RFC3339),
	})
}
