package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/password"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Limits on usernames. Passwords follow password.CheckPolicy, with at most
// password.MaxLength bytes.
const (
	MinUsernameLen = 3
	MaxUsernameLen = 64
)

// ValidateUsername checks 3 to 64 characters among ASCII letters, digits,
// '.', '_' and '-'.
func ValidateUsername(name string) error {
	if name == "" {
		return errorf(CodeInvalidRequest, "username is required")
	}
	if len(name) < MinUsernameLen || len(name) > MaxUsernameLen {
		return errorf(CodeInvalidRequest, fmt.Sprintf("username must be %d to %d characters", MinUsernameLen, MaxUsernameLen))
	}
	for _, c := range []byte(name) {
		if !usernameByte(c) {
			return errorf(CodeInvalidRequest, "username may only contain letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

func usernameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == '-'
}

// ValidatePassword checks a new password for username: a missing or
// overlong one (over password.MaxLength bytes) is an invalid_request, one
// password.CheckPolicy refuses is a weak_password.
func ValidatePassword(username, pw string) error {
	if pw == "" {
		return errorf(CodeInvalidRequest, "password is required")
	}
	if len(pw) > password.MaxLength {
		return errorf(CodeInvalidRequest, fmt.Sprintf("password must be at most %d bytes", password.MaxLength))
	}
	var weak *password.WeakError
	if err := password.CheckPolicy(username, pw); errors.As(err, &weak) {
		return &Error{Code: CodeWeakPassword, Message: "the password " + weak.Reason, Err: err}
	} else if err != nil {
		return err
	}
	return nil
}

// register: POST /v1/auth/register -> 201 {"user_id"}. Attempts count
// against the client address's limit once the body is valid.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeCredentials(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := ValidateUsername(req.Username); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := ValidatePassword(req.Username, req.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if err := s.allow(ctx, s.ipRule(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	// Checked first to spare a hash; the unique index decides races.
	if taken, err := s.users.UsernameExists(ctx, req.Username); err != nil || taken {
		s.fail(w, r, usernameErr(err))
		return
	}
	hash, err := s.passwords.Hash(ctx, req.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u := store.User{ID: s.newID(), Username: req.Username, PasswordHash: hash, CreatedAt: s.now()}
	if err := s.users.CreateUser(ctx, u); err != nil {
		s.fail(w, r, usernameErr(err))
		return
	}
	s.logger.InfoContext(ctx, "user registered", "user_id", u.ID)
	writeJSON(w, http.StatusCreated, struct {
		UserID string `json:"user_id"`
	}{u.ID})
}

// usernameErr maps a nil error (the name exists) or ErrUsernameTaken to
// 409, and passes any other error on.
func usernameErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUsernameTaken) {
		return &Error{Code: CodeUsernameTaken, Message: "the username is already taken", Err: err}
	}
	return err
}

// tokenResponse is the body of a successful login (RFC 6749 section 5.1).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

var errInvalidCredentials = errorf(CodeInvalidCredentials, "invalid username or password")

// login: POST /v1/auth/login -> 200 token. Unknown users and wrong
// passwords get the same answer after the same work (one argon2id hash),
// and both count as failures for the username: a 429 does not tell
// whether the user exists either.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeCredentials(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Username == "" || req.Password == "" {
		s.fail(w, r, errorf(CodeInvalidRequest, "username and password are required"))
		return
	}
	ctx := r.Context()
	userRule := s.userRule(req.Username)
	if err := s.allow(ctx, s.ipRule(r), userRule); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.authenticate(ctx, req)
	if !errors.Is(err, errInvalidCredentials) {
		// Not a failed guess (success, or the check could not run): the
		// per-username counter is about failures only.
		s.refund(ctx, userRule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.passwords.NeedsRehash(u.PasswordHash) {
		s.rehash(ctx, u.ID, req.Password)
	}
	token, claims, err := s.signer.Issue(u.ID, s.issueVersion(ctx, u.ID, u.TokenVersion))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(claims.ExpiresAt.Sub(claims.IssuedAt) / time.Second),
	})
}

// authenticate returns the user whose credentials req holds, or
// errInvalidCredentials after the same argon2id work whether the user
// exists or not (VerifyDummy), or another error when the check could not
// run.
func (s *Server) authenticate(ctx context.Context, req Credentials) (store.User, error) {
	u, err := s.users.UserByUsername(ctx, req.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.passwords.VerifyDummy(ctx, req.Password); err != nil && !errors.Is(err, password.ErrMismatch) {
			return store.User{}, err
		}
		s.metrics.loginFailures.WithLabelValues("unknown_user").Inc()
		return store.User{}, errInvalidCredentials
	case err != nil:
		return store.User{}, err
	}
	if err := s.passwords.Verify(ctx, u.PasswordHash, req.Password); err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			return store.User{}, err
		}
		s.metrics.loginFailures.WithLabelValues("wrong_password").Inc()
		return store.User{}, errInvalidCredentials
	}
	return u, nil
}

// rehash stores a hash with the current parameters after a successful
// login; a failure only costs the upgrade, so it is logged, not answered.
func (s *Server) rehash(ctx context.Context, id, pw string) {
	hash, err := s.passwords.Hash(ctx, pw)
	if err == nil {
		err = s.users.SetPasswordHash(ctx, id, hash)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "could not upgrade the password hash", "user_id", id, "err", err)
	}
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
	u, err := s.users.UserByID(r.Context(), claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, fmt.Errorf("user %s no longer exists: %w", claims.Subject, jwtx.ErrInvalidToken))
		return
	}
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

// enforcedVersionTimeout bounds the Redis read of issueVersion.
const enforcedVersionTimeout = 100 * time.Millisecond

// issueVersion returns the version a new token of the user carries: the
// stored one, or the version validators already enforce when that is
// higher. The latter happens when a logout-all-devices event was stored
// but the process died before raising the stored version; the stored
// version is repaired on the way. When Redis cannot be read, or holds a
// version outside 0..events.MaxVersion (which no valid event can have
// written), the stored version is used: at worst the token is refused,
// never wrongly accepted. An out-of-range version is never copied into
// the store, where it would leave logout-all-devices no version to raise.
func (s *Server) issueVersion(ctx context.Context, userID string, stored int64) int64 {
	if s.enforced == nil {
		return stored
	}
	rctx, cancel := context.WithTimeout(ctx, enforcedVersionTimeout)
	st, err := s.enforced.RevocationState(rctx, "", userID)
	cancel()
	if err != nil {
		return stored
	}
	if st.UserVersion < 0 || st.UserVersion > events.MaxVersion {
		s.logger.ErrorContext(ctx, "enforced token version is out of range; not copied into the store",
			"user_id", userID, "stored", stored, "enforced", st.UserVersion, "max", events.MaxVersion)
		return stored
	}
	if st.UserVersion <= stored {
		return stored
	}
	if _, err := s.users.SetTokenVersionAtLeast(ctx, userID, st.UserVersion); err != nil {
		s.logger.Warn("could not raise the stored token version to the enforced one",
			"user_id", userID, "stored", stored, "enforced", st.UserVersion, "err", err)
	} else {
		s.logger.Info("stored token version was behind the enforced one; raised",
			"user_id", userID, "stored", stored, "enforced", st.UserVersion)
	}
	return st.UserVersion
}
