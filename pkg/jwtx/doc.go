// Package jwtx issues and validates revocable JWT access tokens.
//
// Tokens are signed with Ed25519 (alg EdDSA, typ at+jwt, kid = RFC 7638
// thumbprint) and carry iss, sub (user id), aud, iat, nbf, exp, jti and ver
// (the user's token version). Validation follows RFC 8725: EdDSA only,
// known kid only (keys are never fetched from token headers), crit
// rejected, exp required, iss and aud checked, small leeway, bounded size,
// and no duplicate or case-variant claim names. Then, in one Redis round
// trip, the revocation state: a blacklisted jti or a ver below the user's
// version is ErrRevoked; a state that cannot be read (Redis down or slow,
// checkpoint missing while the revocation service rebuilds) is
// ErrRevocationUnavailable: validation fails closed.
//
// The happy path:
//
//	token, _, err := signer.Issue(userID, version)
//	claims, err := validator.Validate(ctx, token)
//
// A microservice adopts it in about ten lines:
//
//	opts, err := jwtx.RedisOptions(os.Getenv("REDIS_URL"))
//	if err != nil { ... }
//	keys, err := jwtx.ParseJWKS(jwksJSON) // from auth's /.well-known/jwks.json
//	if err != nil { ... }
//	v, err := jwtx.NewValidator(jwtx.Config{
//		Keys: keys, Issuer: "https://auth.example", Audience: "orders",
//		Revocation: jwtx.NewRedisStore(redis.NewClient(opts)),
//	})
//	if err != nil { ... }
//	mux.Handle("/orders", v.Middleware(ordersHandler))
//	// in the handler:
//	claims, _ := jwtx.ClaimsFromContext(r.Context())
//
// The middleware answers 401 (WWW-Authenticate: Bearer
// error="invalid_token") for a missing, invalid or revoked token and 503
// with Retry-After for an unavailable revocation status, so a client keeps
// its session through a Redis outage; WriteError is the one place errors
// become HTTP answers.
//
// The Redis client must have ContextTimeoutEnabled set (RedisOptions sets
// it, with no retries and short timeouts). Without it go-redis ignores the
// context deadline of a revocation check and a hung Redis holds every
// request for the client's read timeout (5s by default) instead of
// Config.RevocationTimeout.
//
// Package jwtxtest has test doubles: a signer with a fresh key and an
// in-memory RevocationStore.
package jwtx
