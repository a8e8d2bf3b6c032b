package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
)

// tokenBody is the answer of login and refresh (RFC 6749 section 5.1).
func tokenBody(tok account.Token, now time.Time) tokenResponse {
	out := tokenResponse{
		AccessToken: tok.Token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(tok.Claims.ExpiresAt.Sub(tok.Claims.IssuedAt) / time.Second),
	}
	if tok.RefreshToken != "" {
		out.RefreshToken = tok.RefreshToken
		out.RefreshExpiresIn = max(int64(tok.RefreshExpiresAt.Sub(now)/time.Second), 0)
	}
	return out
}

// coarseAddr is the client address stored with a session: its IPv4 /24
// or IPv6 /48, enough to tell networks apart, not hosts.
func coarseAddr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// client describes r's client for the session a login starts.
func (s *Server) client(r *http.Request) account.Client {
	return account.Client{UserAgent: r.UserAgent(), Addr: coarseAddr(clientAddr(r, s.trustedProxies))}
}

// refresh: POST /v1/auth/refresh {"refresh_token"} -> 200 token pair.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeRefresh(r.Body)
	if err != nil {
		s.metrics.refreshes.WithLabelValues("invalid").Inc()
		s.fail(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		s.metrics.refreshes.WithLabelValues("invalid").Inc()
		s.fail(w, r, errorf(CodeInvalidRequest, "refresh_token is required"))
		return
	}
	tok, err := s.accounts.Refresh(r.Context(), req.RefreshToken)
	outcome := account.RefreshOutcome(err, tok.Replay)
	s.metrics.refreshes.WithLabelValues(outcome).Inc()
	if outcome == "reused" {
		s.metrics.sessionsRevoked.WithLabelValues(account.ReasonRefreshTokenReuse).Inc()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenBody(tok, s.now()))
}

// sessionBody is one entry of GET /v1/auth/sessions.
type sessionBody struct {
	SID        string `json:"sid"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
}

// sessions: GET /v1/auth/sessions, behind the jwtx middleware.
func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	claims, ok := jwtx.ClaimsFromContext(r.Context())
	if !ok {
		s.fail(w, r, errors.New("httpapi: sessions without claims"))
		return
	}
	list, err := s.accounts.Sessions(r.Context(), claims)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Sessions []sessionBody `json:"sessions"`
	}{Sessions: make([]sessionBody, 0, len(list))}
	for _, ss := range list {
		out.Sessions = append(out.Sessions, sessionBody{
			SID: ss.ID, CreatedAt: ss.CreatedAt.UTC().Format(time.RFC3339), LastUsedAt: ss.LastUsedAt.UTC().Format(time.RFC3339),
			UserAgent: ss.UserAgent, Current: ss.Current,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteSession: DELETE /v1/auth/sessions/{sid} ends one of the user's
// sessions (204/202/503 as logout; someone else's: 404).
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	s.revoke(w, r, "session_revoked", func(ctx context.Context, claims *jwtx.Claims) (account.Revocation, error) {
		return s.accounts.RevokeSession(ctx, claims, sid)
	})
}

// changePassword: POST /v1/auth/password, behind the jwtx middleware (a
// revoked token cannot change the password); attempts count against the
// client address's limit.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	claims, ok := jwtx.ClaimsFromContext(r.Context())
	if !ok {
		s.fail(w, r, errors.New("httpapi: password without claims"))
		return
	}
	req, err := DecodePasswordChange(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		s.fail(w, r, errorf(CodeInvalidRequest, "current_password and new_password are required"))
		return
	}
	if err := s.allow(r.Context(), s.ipRule(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerRevocation(w, r, "credential_change", func(ctx context.Context) (account.Revocation, error) {
		return s.accounts.ChangePassword(ctx, claims, req.CurrentPassword, req.NewPassword)
	})
}
