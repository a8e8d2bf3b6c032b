package revocation

// Redis keys written by the revocation service and read by validators, in
// one round trip. They are public interface (docs/CONTRACT.md, "Redis
// keys").
const (
	// KeyPrefixTokenBlacklist is followed by a jti; the key exists while the
	// token is revoked (it expires with the token). Its value is
	// BlacklistValue.
	KeyPrefixTokenBlacklist = "token_blacklist:"
	// KeyPrefixUserTokenVersion is followed by a user id; the integer value
	// is the user's token version: tokens with a lower ver are revoked.
	KeyPrefixUserTokenVersion = "user_token_version:"
	// KeyPrefixSessionRevoked is followed by a session id (the sid claim);
	// the key exists while the session is revoked (it expires with the
	// session's last access token). Its value is BlacklistValue.
	KeyPrefixSessionRevoked = "session_revoked:"
	// KeyCheckpoint holds the last stream sequence applied to Redis. When it
	// is missing, Redis lost its data and is being rebuilt: validators fail
	// closed.
	KeyCheckpoint = "revocation:checkpoint"
)

// BlacklistValue is the value of every token_blacklist key: a small marker.
// Validators only ask whether the key exists; the event itself stays in
// the stream.
const BlacklistValue = "1"

// BlacklistKey returns the Redis key that marks the token jti as revoked.
func BlacklistKey(jti string) string { return KeyPrefixTokenBlacklist + jti }

// UserVersionKey returns the Redis key holding the token version of userID.
func UserVersionKey(userID string) string { return KeyPrefixUserTokenVersion + userID }

// SessionKey returns the Redis key that marks the session sid as revoked.
func SessionKey(sid string) string { return KeyPrefixSessionRevoked + sid }
