// Package jwtxgrpc authenticates gRPC calls with jwtx access tokens: server
// interceptors that read "authorization: Bearer <token>" from the call's
// metadata, validate it with a *jwtx.Validator (signature, claims,
// revocation) and put the claims in the handler's context, where
// jwtx.ClaimsFromContext finds them.
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(jwtxgrpc.UnaryServerInterceptor(v)),
//		grpc.ChainStreamInterceptor(jwtxgrpc.StreamServerInterceptor(v)),
//	)
//	// in a handler:
//	claims, _ := jwtx.ClaimsFromContext(ctx)
//
// A missing, invalid or revoked token is refused with codes.Unauthenticated,
// a revocation status that cannot be read (jwtx.ErrRevocationUnavailable)
// with codes.Unavailable and an errdetails.RetryInfo, so clients retry
// instead of dropping their session, and a token lacking a scope a method
// requires (RequireScopes) with codes.PermissionDenied. Messages are fixed
// texts: nothing from the token is echoed or logged.
//
// It is its own module so that gRPC never enters the module graph of
// github.com/eventjwt/eventjwt/pkg/jwtx.
package jwtxgrpc
