package account

import (
	"context"
	"errors"
	"fmt"
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

// ValidateRegistration is what Register checks before any work: the
// username, then the password. httpapi calls it before counting an
// attempt, so that an invalid body never costs a rate-limit token.
func ValidateRegistration(username, pw string) error {
	if err := ValidateUsername(username); err != nil {
		return err
	}
	return ValidatePassword(username, pw)
}

// ValidateLogin is what Login checks before any work: both fields present.
func ValidateLogin(username, pw string) error {
	if username == "" || pw == "" {
		return errorf(CodeInvalidRequest, "username and password are required")
	}
	return nil
}

// Register creates a user and returns its id. The username is checked
// first to spare a hash; the store's unique index decides races.
func (s *Service) Register(ctx context.Context, username, pw string) (userID string, err error) {
	if err := ValidateRegistration(username, pw); err != nil {
		return "", err
	}
	if taken, err := s.users.UsernameExists(ctx, username); err != nil || taken {
		return "", usernameErr(err)
	}
	hash, err := s.passwords.Hash(ctx, pw)
	if err != nil {
		return "", err
	}
	u := store.User{ID: s.newID(), Username: username, PasswordHash: hash, CreatedAt: s.now()}
	if err := s.users.CreateUser(ctx, u); err != nil {
		return "", usernameErr(err)
	}
	s.logger.InfoContext(ctx, "user registered", "user_id", u.ID)
	return u.ID, nil
}

// usernameErr maps a nil error (the name exists) or ErrUsernameTaken to
// CodeUsernameTaken, and passes any other error on.
func usernameErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUsernameTaken) {
		return &Error{Code: CodeUsernameTaken, Message: "the username is already taken", Err: err}
	}
	return err
}

// Login's answers to a failed guess: the same code and message for an
// unknown user and a wrong password, told apart only with errors.Is (for
// metrics, never for the client).
var (
	ErrUnknownUser   = &Error{Code: CodeInvalidCredentials, Message: invalidCredentials, Err: errors.New("unknown user")}
	ErrWrongPassword = &Error{Code: CodeInvalidCredentials, Message: invalidCredentials, Err: errors.New("wrong password")}
)

const invalidCredentials = "invalid username or password"

// Token is an issued access token and its claims, with the refresh token
// of its session when sessions are on.
type Token struct {
	Token  string
	Claims jwtx.Claims
	// RefreshToken is empty without sessions; only ever in the answer.
	RefreshToken     string
	RefreshExpiresAt time.Time
	// Replay is set when Refresh answered a pair again within the grace
	// window.
	Replay bool
}

// Login checks the credentials and issues a token at issueVersion.
// Unknown users and wrong passwords get ErrUnknownUser and
// ErrWrongPassword (both CodeInvalidCredentials) after the same work (one argon2id hash). A hash with outdated parameters is
// replaced on the way.
func (s *Service) Login(ctx context.Context, username, pw string) (Token, error) {
	return s.LoginClient(ctx, username, pw, Client{})
}

// LoginClient is Login for a described client, stored with the session.
func (s *Service) LoginClient(ctx context.Context, username, pw string, c Client) (Token, error) {
	if err := ValidateLogin(username, pw); err != nil {
		return Token{}, err
	}
	u, err := s.authenticate(ctx, username, pw)
	if err != nil {
		return Token{}, err
	}
	if s.passwords.NeedsRehash(u.PasswordHash) {
		s.rehash(ctx, u.ID, pw)
	}
	version := s.issueVersion(ctx, u.ID, u.TokenVersion)
	if s.sessionsEnabled() {
		return s.startSession(ctx, u.ID, version, c)
	}
	token, claims, err := s.issuer.Issue(u.ID, version)
	if err != nil {
		return Token{}, err
	}
	return Token{Token: token, Claims: claims}, nil
}

// authenticate returns the user whose credentials these are, or
// ErrUnknownUser or ErrWrongPassword after the same argon2id work whether the user
// exists or not (VerifyDummy), or another error when the check could not
// run.
func (s *Service) authenticate(ctx context.Context, username, pw string) (store.User, error) {
	u, err := s.users.UserByUsername(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.passwords.VerifyDummy(ctx, pw); err != nil && !errors.Is(err, password.ErrMismatch) {
			return store.User{}, err
		}
		return store.User{}, ErrUnknownUser
	case err != nil:
		return store.User{}, err
	}
	if err := s.passwords.Verify(ctx, u.PasswordHash, pw); err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			return store.User{}, err
		}
		return store.User{}, ErrWrongPassword
	}
	return u, nil
}

// rehash stores a hash with the current parameters after a successful
// login; a failure only costs the upgrade, so it is logged, not returned.
func (s *Service) rehash(ctx context.Context, id, pw string) {
	hash, err := s.passwords.Hash(ctx, pw)
	if err == nil {
		err = s.users.SetPasswordHash(ctx, id, hash)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "could not upgrade the password hash", "user_id", id, "err", err)
	}
}

// User returns the user a validated token names. A user that no longer
// exists makes the token invalid (jwtx.ErrInvalidToken).
func (s *Service) User(ctx context.Context, id string) (store.User, error) {
	u, err := s.users.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user %s no longer exists: %w", id, jwtx.ErrInvalidToken)
	}
	return u, err
}

// enforcedVersionTimeout bounds the Redis read of issueVersion.
const enforcedVersionTimeout = 100 * time.Millisecond

// issueVersion returns the version a new token of the user carries: the
// stored one, or the version validators already enforce when that is
// higher. The latter happens when a logout-all-devices event was stored
// but the process died before raising the stored version; the stored
// version is repaired on the way. When the enforced state cannot be read,
// or holds a version outside 0..events.MaxVersion (which no valid event
// can have written), the stored version is used: at worst the token is
// refused, never wrongly accepted. An out-of-range version is never copied
// into the store, where it would leave logout-all-devices no version to
// raise.
func (s *Service) issueVersion(ctx context.Context, userID string, stored int64) int64 {
	if s.enforced == nil {
		return stored
	}
	rctx, cancel := context.WithTimeout(ctx, enforcedVersionTimeout)
	st, err := s.enforced.RevocationState(rctx, jwtx.RevocationQuery{UserID: userID})
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
