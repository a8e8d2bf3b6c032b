package jwtxgrpc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// DefaultRetryDelay is the RetryInfo delay of an Unavailable answer unless
// WithRetryDelay sets another.
const DefaultRetryDelay = time.Second

// config is what the Options set.
type config struct {
	scopes     map[string][]string // by full method
	skip       map[string]bool     // full methods that need no token
	retryDelay time.Duration
	logger     *slog.Logger
}

// Option configures UnaryServerInterceptor and StreamServerInterceptor.
type Option func(*config)

// RequireScopes makes fullMethod ("/package.Service/Method") require every
// one of scopes in the token (jwtx.Claims.HasScope); a token lacking one is
// refused with codes.PermissionDenied. Several RequireScopes for one method
// add up. A method both skipped (SkipMethods) and scoped makes the
// interceptor constructors panic, as a mistake in the program.
func RequireScopes(fullMethod string, scopes ...string) Option {
	scopes = append([]string(nil), scopes...)
	return func(c *config) {
		c.scopes[fullMethod] = append(c.scopes[fullMethod], scopes...)
	}
}

// SkipMethods lets fullMethods ("/grpc.health.v1.Health/Check", the
// reflection service's methods) through without a token: their metadata is
// not looked at and their handlers see no claims.
func SkipMethods(fullMethods ...string) Option {
	fullMethods = append([]string(nil), fullMethods...)
	return func(c *config) {
		for _, m := range fullMethods {
			c.skip[m] = true
		}
	}
}

// WithRetryDelay sets the delay of the errdetails.RetryInfo an Unavailable
// answer carries; default DefaultRetryDelay, which a non-positive d keeps.
func WithRetryDelay(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.retryDelay = d
		}
	}
}

// WithLogger makes the interceptors record every refused call at debug
// level: the method, the gRPC code and the reason (jwtx.ErrorCode); never
// the token or any claim value it carried.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// authenticator is the check both interceptors share.
type authenticator struct {
	v *jwtx.Validator
	config
}

func newAuthenticator(v *jwtx.Validator, opts []Option) *authenticator {
	if v == nil {
		panic("jwtxgrpc: nil *jwtx.Validator")
	}
	a := &authenticator{v: v, config: config{
		scopes:     make(map[string][]string),
		skip:       make(map[string]bool),
		retryDelay: DefaultRetryDelay,
	}}
	for _, o := range opts {
		o(&a.config)
	}
	for m := range a.scopes {
		if a.skip[m] {
			panic(fmt.Sprintf("jwtxgrpc: %s is both skipped and scoped", m))
		}
	}
	return a
}

// UnaryServerInterceptor returns an interceptor that authenticates every
// unary call with v and calls the handler with the token's claims in its
// context (jwtx.ClaimsFromContext), or refuses the call (see the package
// documentation).
func UnaryServerInterceptor(v *jwtx.Validator, opts ...Option) grpc.UnaryServerInterceptor {
	a := newAuthenticator(v, opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns an interceptor that authenticates every
// streaming call with v, once when the stream opens, and calls the handler
// with a stream whose Context carries the token's claims, or refuses the
// call (see the package documentation).
func StreamServerInterceptor(v *jwtx.Validator, opts ...Option) grpc.StreamServerInterceptor {
	a := newAuthenticator(v, opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

// serverStream is a grpc.ServerStream with the context carrying the claims.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context with the claims.
func (s *serverStream) Context() context.Context { return s.ctx }

// authenticate returns ctx with the claims of the call's token, or the
// status error refusing the call.
func (a *authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	if a.skip[method] {
		return ctx, nil
	}
	c, err := a.claims(ctx, method)
	if err != nil {
		st := a.status(err)
		if a.logger != nil {
			a.logger.LogAttrs(ctx, slog.LevelDebug, "jwtxgrpc: call refused",
				slog.String("method", method),
				slog.String("code", st.Code().String()),
				slog.String("reason", jwtx.ErrorCode(err)))
		}
		return nil, st.Err()
	}
	return jwtx.ContextWithClaims(ctx, c), nil
}

// claims validates the call's token and checks the method's scopes.
func (a *authenticator) claims(ctx context.Context, method string) (*jwtx.Claims, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	c, err := a.v.Validate(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("jwtxgrpc: %s: %w", method, err)
	}
	for _, s := range a.scopes[method] {
		if !c.HasScope(s) {
			return nil, fmt.Errorf("jwtxgrpc: %s requires scope %q: %w", method, s, jwtx.ErrInsufficientScope)
		}
	}
	return c, nil
}

// bearerToken returns the token of the call's one "authorization: Bearer
// <token>" metadata value, with jwtx.BearerToken's rules: the scheme is
// case-insensitive, no value, several values, another scheme or an empty
// token give an error matching jwtx.ErrMissingToken.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch {
	case len(vals) == 0:
		return "", fmt.Errorf("jwtxgrpc: no authorization metadata: %w", jwtx.ErrMissingToken)
	case len(vals) > 1:
		return "", fmt.Errorf("jwtxgrpc: several authorization values: %w", jwtx.ErrMissingToken)
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("jwtxgrpc: authorization scheme is not Bearer: %w", jwtx.ErrMissingToken)
	}
	token = strings.Trim(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("jwtxgrpc: no bearer token: %w", jwtx.ErrMissingToken)
	}
	return token, nil
}
