package jwtx

import "errors"

// Sentinel errors. Match them with errors.Is; every error this package
// returns wraps exactly one of ErrInvalidToken (or a finer sentinel that
// matches it), ErrRevoked or ErrRevocationUnavailable.
var (
	// ErrInvalidToken is the umbrella for every reason a token fails the
	// signature and claims checks: malformed, badly signed, expired, wrong
	// issuer or audience, unknown key, too large, missing. The finer
	// sentinels below all match it.
	ErrInvalidToken = errors.New("jwtx: invalid token")

	// ErrRevoked means the token was valid but has been revoked: its jti is
	// blacklisted, or its ver is below the user's current token version.
	// It does not match ErrInvalidToken.
	ErrRevoked = errors.New("jwtx: token revoked")

	// ErrRevocationUnavailable means the revocation status of a token could
	// not be established (Redis error or timeout, checkpoint missing,
	// corrupt value). The token is rejected: validation fails closed. It
	// matches neither ErrInvalidToken nor ErrRevoked; clients should retry.
	ErrRevocationUnavailable = errors.New("jwtx: revocation status unavailable")

	// ErrInsufficientScope means the token is valid but lacks a scope the
	// route requires (RequireScope): 403 insufficient_scope (RFC 6750
	// section 3.1), PermissionDenied in gRPC. It matches none of the above.
	ErrInsufficientScope = errors.New("jwtx: insufficient scope")

	// ErrClaimMissing means the token has no member of the name asked for
	// (Claims.DecodeClaim, ClaimAs).
	ErrClaimMissing = errors.New("jwtx: claim missing")
)

// Finer reasons for an invalid token; each matches ErrInvalidToken too.
var (
	// ErrMissingToken means the request carries no bearer token.
	ErrMissingToken error = &tokenError{"jwtx: missing bearer token"}
	// ErrMalformedToken means the token is not a well-formed signed JWT of
	// the accepted shape (segments, base64, JSON, claim types).
	ErrMalformedToken error = &tokenError{"jwtx: malformed token"}
	// ErrTokenTooLarge means the token exceeds Config.MaxTokenSize.
	ErrTokenTooLarge error = &tokenError{"jwtx: token too large"}
	// ErrUnknownKey means the token's kid is missing or not in the KeySet.
	ErrUnknownKey error = &tokenError{"jwtx: unknown signing key"}
	// ErrBadSignature means the signature does not verify.
	ErrBadSignature error = &tokenError{"jwtx: bad signature"}
	// ErrExpired means the token's exp is past (beyond the leeway).
	ErrExpired error = &tokenError{"jwtx: token expired"}
	// ErrNotYetValid means nbf or iat is in the future (beyond the leeway).
	ErrNotYetValid error = &tokenError{"jwtx: token not yet valid"}
	// ErrLegacyToken means the token has no jti and the validator does not
	// accept legacy tokens.
	ErrLegacyToken error = &tokenError{"jwtx: legacy token without jti not accepted"}
	// ErrAlgorithmNotAllowed means the header's alg is not on the allow-list
	// (EdDSA, and HS256 when Config.HMACKeys is set): none, RSA, ECDSA, HMAC
	// without configured secrets and look-alike names included.
	ErrAlgorithmNotAllowed error = &tokenError{"jwtx: algorithm not allowed"}
	// ErrWrongType means the header's typ is missing or is not at+jwt: an ID
	// token, a refresh token or any other kind of JWT.
	ErrWrongType error = &tokenError{"jwtx: wrong token type"}
	// ErrCriticalHeader means the header has a crit member: no JWS extension
	// is understood, so RFC 7515 section 4.1.11 requires rejection.
	ErrCriticalHeader error = &tokenError{"jwtx: unsupported critical header"}
	// ErrWrongIssuer means iss is missing or is not the expected issuer.
	ErrWrongIssuer error = &tokenError{"jwtx: wrong issuer"}
	// ErrWrongAudience means aud is missing or does not contain the
	// expected audience.
	ErrWrongAudience error = &tokenError{"jwtx: wrong audience"}
)

// ErrKeysUnavailable means the token's issuer has no keys yet: its JWK Set
// or discovery document has never been fetched successfully, so whether
// the token is genuine cannot be known. It matches
// ErrRevocationUnavailable, so the middleware answers 503 with
// Retry-After (gRPC: Unavailable) and clients keep their token.
var ErrKeysUnavailable error = &unavailableError{"jwtx: issuer keys unavailable"}

// ErrRevocationStale means the revocation store answered, but its
// heartbeat is older than the allowed staleness
// (RedisStoreOptions.MaxStaleness): that Redis has stopped receiving the
// revocation service's writes, so a recent revocation may be missing from
// it. It matches ErrRevocationUnavailable (503 with Retry-After).
var ErrRevocationStale error = &unavailableError{"jwtx: revocation store stopped receiving writes"}

// unavailableError is a sentinel that also matches ErrRevocationUnavailable.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

// Is makes every unavailableError match ErrRevocationUnavailable.
func (e *unavailableError) Is(target error) bool { return target == ErrRevocationUnavailable }

// tokenError is a sentinel that also matches ErrInvalidToken.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }

// Is makes every tokenError match ErrInvalidToken.
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }
