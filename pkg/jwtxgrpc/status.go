package jwtxgrpc

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// status returns the gRPC status refusing a call for err, with a fixed
// message:
//
//   - jwtx.ErrRevocationUnavailable: Unavailable with a RetryInfo;
//   - jwtx.ErrInsufficientScope: PermissionDenied;
//   - jwtx.ErrRevoked, jwtx.ErrInvalidToken: Unauthenticated;
//   - anything else: Internal.
func (a *authenticator) status(err error) *status.Status {
	switch {
	case errors.Is(err, jwtx.ErrRevocationUnavailable):
		st := status.New(codes.Unavailable, "token status cannot be verified right now; retry shortly")
		if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(a.retryDelay)}); derr == nil {
			return d
		}
		return st
	case errors.Is(err, jwtx.ErrInsufficientScope):
		return status.New(codes.PermissionDenied, "the access token lacks a scope this method requires")
	case errors.Is(err, jwtx.ErrRevoked):
		return status.New(codes.Unauthenticated, "the access token has been revoked")
	case errors.Is(err, jwtx.ErrInvalidToken):
		return status.New(codes.Unauthenticated, invalidMessage(err))
	}
	return status.New(codes.Internal, "internal error")
}

// invalidMessage is the fixed text for an invalid token, as jwtx.WriteError
// words it.
func invalidMessage(err error) string {
	switch {
	case errors.Is(err, jwtx.ErrMissingToken):
		return "a bearer access token is required"
	case errors.Is(err, jwtx.ErrExpired):
		return "the access token expired"
	case errors.Is(err, jwtx.ErrNotYetValid):
		return "the access token is not valid yet"
	case errors.Is(err, jwtx.ErrTokenTooLarge):
		return "the access token is too large"
	}
	return "the access token is invalid"
}
