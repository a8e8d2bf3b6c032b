// Package jwtx issues and validates revocable JWT access tokens.
//
// Tokens are signed with Ed25519 (alg EdDSA, typ at+jwt, kid = RFC 7638
// thumbprint) and carry iss, sub (user id), aud, iat, nbf, exp, jti and ver
// (the user's token version). Validation follows RFC 8725: EdDSA, or HS256
// for a kid configured with an HMAC secret (Config.HMACKeys) — the
// algorithm comes from where the key is configured, never from the token —,
// known kid only (keys are never fetched from token headers), crit
// rejected, typ at+jwt required, exp required, iss and aud checked, small
// leeway, bounded size, strict base64url and UTF-8, and no duplicate or
// case-variant member names. Every rejection matches ErrInvalidToken and
// exactly one finer sentinel saying why (ErrAlgorithmNotAllowed,
// ErrUnknownKey, ErrBadSignature, ErrExpired, ...). Then, in one Redis round
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
//	rdb, err := jwtx.NewRedisClient(os.Getenv("REDIS_URL"), jwtx.RedisClientOptions{}) // one server, Sentinel or Cluster
//	if err != nil { ... }
//	keys, err := jwtx.ParseJWKS(jwksJSON) // from auth's /.well-known/jwks.json
//	if err != nil { ... }
//	v, err := jwtx.NewValidator(jwtx.Config{ // the auth service's AUTH_ISSUER and AUTH_AUDIENCE
//		Keys: keys, Issuer: "http://localhost:8080", Audience: "api",
//		Revocation: jwtx.NewRedisStore(rdb),
//	})
//	if err != nil { ... }
//	mux.Handle("/orders", v.Middleware(ordersHandler))
//	// in the handler:
//	claims, _ := jwtx.ClaimsFromContext(r.Context())
//
// A service other than the issuer follows the issuer's JWKS instead of a
// static set: RemoteKeySet fetches it (https only, bounded, cached per
// Cache-Control, refreshed at most once per 30 s on an unknown kid, never
// from a URL a token names) and is passed as Config.Resolver:
//
//	keys, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: "https://auth.example/.well-known/jwks.json"})
//	v, err := jwtx.NewValidator(jwtx.Config{Resolver: keys, Issuer: ..., Audience: ..., Revocation: ...})
//
// Tokens of other issuers (Keycloak, Auth0, Okta, Entra ID, Dex,
// ZITADEL) are accepted too, each described by an Issuer in
// Config.Issuers and chosen by the token's iss: keys from a JWK Set URL or
// OIDC discovery, algorithms RS256, PS256, ES256 and EdDSA bound to each
// key (PublicKey), accepted typ values, audience and leeway. Their sub,
// jti and sid may be any bounded string; revocation keeps them under
// revocation.ExternalID(iss, id), a UUID (Claims.UserID, Claims.Query).
// Handlers read Claims.Scopes, Claims.Roles and any other member
// (ClaimAs); RequireScope answers 403 insufficient_scope:
//
//	v, err := jwtx.NewValidator(jwtx.Config{
//		Issuers: []jwtx.Issuer{{Issuer: "https://kc.example/realms/acme", Audience: "orders",
//			Discovery: true, Types: []string{"JWT"}}},
//		Revocation: jwtx.NewRedisStore(rdb),
//	})
//	mux.Handle("/orders", v.MiddlewareWith(jwtx.MiddlewareOptions{})(jwtx.RequireScope("orders:read")(orders)))
//
// The issuer rotates keys with a KeyRing: Rotate makes a new key active and
// retires the old one (KeySet.Retire), which stays published and accepted
// until the last token it signed has expired, then disappears.
//
// The middleware answers 401 (WWW-Authenticate: Bearer
// error="invalid_token") for a missing, invalid or revoked token and 503
// with Retry-After for an unavailable revocation status, so a client keeps
// its session through a Redis outage; WriteError is the one place errors
// become HTTP answers.
//
// The Redis client must have ContextTimeoutEnabled set (NewRedisClient and
// RedisOptions set it, with no retries and short timeouts). Without it go-redis ignores the
// context deadline of a revocation check and a hung Redis holds every
// request for the client's read timeout (5s by default) instead of
// Config.RevocationTimeout.
//
// RedisStore reads the keys of the layout its client implies (LayoutFor:
// partitioned in a Redis Cluster, one MGET on one slot) and fails closed
// with ErrRevocationStale when the revocation service's heartbeat is older
// than RedisStoreOptions.MaxStaleness (30 s): a Redis nobody writes any
// more, such as a primary Sentinel demoted, is not trusted for longer.
//
// RedisStore coalesces concurrent checks by default: a check that finds no
// round trip in flight sends its MGET at once, and checks that arrive
// meanwhile leave together in one pipeline (each still one MGET), bounded
// by RedisStoreOptions.MaxBatch and MaxInFlight; every check keeps its own
// deadline. NewRedisStoreWithOptions tunes it or turns it off.
//
// Package jwtxtest has test doubles: a signer with a fresh key and an
// in-memory RevocationStore.
package jwtx
