package jwtxgrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
	"github.com/eventjwt/eventjwt/pkg/jwtxgrpc"
)

const (
	testSub   = "0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70"
	testJTI   = "7d3c5a1e-2b4f-4e8d-a6c9-1f0e2d3c4b5a"
	methCheck = "/grpc.health.v1.Health/Check"
	methWatch = "/grpc.health.v1.Health/Watch"
	methList  = "/grpc.health.v1.Health/List"
	// subjectHeader is the response header the observed handlers put the
	// subject of the claims they saw in, "none" when they saw none.
	subjectHeader = "x-claims-subject"
)

// observedHealth is the standard health server whose handlers report the
// claims in their context as a response header.
type observedHealth struct{ *health.Server }

func subjectOf(ctx context.Context) string {
	if c, ok := jwtx.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return "none"
}

func (h observedHealth) Check(ctx context.Context, in *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(subjectHeader, subjectOf(ctx))); err != nil {
		return nil, fmt.Errorf("set header: %w", err)
	}
	return h.Server.Check(ctx, in)
}

func (h observedHealth) List(ctx context.Context, in *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(subjectHeader, subjectOf(ctx))); err != nil {
		return nil, fmt.Errorf("set header: %w", err)
	}
	return h.Server.List(ctx, in)
}

func (h observedHealth) Watch(in *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if err := stream.SetHeader(metadata.Pairs(subjectHeader, subjectOf(stream.Context()))); err != nil {
		return fmt.Errorf("set header: %w", err)
	}
	return h.Server.Watch(in, stream)
}

// fixture is a validator over a memory store and a Kit to sign tokens.
type fixture struct {
	kit   *jwtxtest.Kit
	store *jwtxtest.MemoryStore
	v     *jwtx.Validator
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	kit := jwtxtest.New(t)
	store := jwtxtest.NewMemoryStore()
	return &fixture{kit: kit, store: store, v: kit.Validator(t, store)}
}

// token signs a well-formed token with changes to its claims: a nil value
// removes the member.
func (f *fixture) token(t testing.TB, changes map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"iss": f.kit.Issuer, "sub": testSub, "aud": f.kit.Audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
		"jti": testJTI, "ver": 0,
	}
	c = maps.Clone(c)
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	hdr := fmt.Sprintf(`{"alg":"EdDSA","typ":"at+jwt","kid":%q}`, f.kit.Signer.KeyID())
	return f.kit.SignRaw(hdr, string(payload))
}

// serve starts a gRPC server on loopback with the interceptors built with
// opts around the observed health service, and returns a client of it.
func serve(t testing.TB, v *jwtx.Validator, opts ...jwtxgrpc.Option) healthpb.HealthClient {
	t.Helper()
	var sopts []grpc.ServerOption
	if v != nil {
		sopts = append(sopts,
			grpc.ChainUnaryInterceptor(jwtxgrpc.UnaryServerInterceptor(v, opts...)),
			grpc.ChainStreamInterceptor(jwtxgrpc.StreamServerInterceptor(v, opts...)))
	}
	return serveWith(t, sopts...)
}

func serveWith(t testing.TB, sopts ...grpc.ServerOption) healthpb.HealthClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(srv, observedHealth{health.NewServer()})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return healthpb.NewHealthClient(conn)
}

// withToken returns ctx sending token as a bearer token; "" sends none.
func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// callCheck calls Check and returns the subject the handler saw.
func callCheck(ctx context.Context, c healthpb.HealthClient) (string, error) {
	var hdr metadata.MD
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr)); err != nil {
		return "", err
	}
	return strings.Join(hdr.Get(subjectHeader), ","), nil
}

// callWatch opens Watch, receives the first status and returns the subject
// the handler saw.
func callWatch(ctx context.Context, c healthpb.HealthClient) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "", err
	}
	res, err := stream.Recv()
	if err != nil {
		return "", err
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return "", fmt.Errorf("watch status %v", res.GetStatus())
	}
	hdr, err := stream.Header()
	if err != nil {
		return "", err
	}
	return strings.Join(hdr.Get(subjectHeader), ","), nil
}

// call is one kind of call: unary Check or server-streaming Watch.
var calls = []struct {
	name   string
	method string
	do     func(context.Context, healthpb.HealthClient) (string, error)
}{
	{"Unary", methCheck, callCheck},
	{"Stream", methWatch, callWatch},
}

// checkCode fails the test unless err is a status of code.
func checkCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	return st
}

func TestInterceptors(t *testing.T) {
	f := newFixture(t)
	client := serve(t, f.v)
	good := f.token(t, nil)
	const revokedJTI = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	revoked := f.token(t, map[string]any{"jti": revokedJTI})
	f.store.RevokeToken(revokedJTI)
	badSig := good[:len(good)-6] + "AAAAAA"
	tests := []struct {
		name     string
		token    string
		md       []string // raw authorization values instead of token
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "OK", token: good, wantCode: codes.OK},
		{name: "OKSchemeCase", md: []string{"bEaReR " + good}, wantCode: codes.OK},
		{name: "Missing", wantCode: codes.Unauthenticated, wantMsg: "a bearer access token is required"},
		{name: "Expired", token: f.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), wantCode: codes.Unauthenticated, wantMsg: "the access token expired"},
		{name: "BadSignature", token: badSig, wantCode: codes.Unauthenticated, wantMsg: "the access token is invalid"},
		{name: "WrongAudience", token: f.token(t, map[string]any{"aud": "other"}), wantCode: codes.Unauthenticated, wantMsg: "the access token is invalid"},
		{name: "Revoked", token: revoked, wantCode: codes.Unauthenticated, wantMsg: "the access token has been revoked"},
		{name: "BasicScheme", md: []string{"Basic dXNlcjpwYXNz"}, wantCode: codes.Unauthenticated, wantMsg: "a bearer access token is required"},
		{name: "EmptyBearer", md: []string{"Bearer "}, wantCode: codes.Unauthenticated, wantMsg: "a bearer access token is required"},
		{name: "TwoValues", md: []string{"Bearer " + good, "Bearer " + good}, wantCode: codes.Unauthenticated, wantMsg: "a bearer access token is required"},
	}
	for _, call := range calls {
		for _, tc := range tests {
			t.Run(call.name+"/"+tc.name, func(t *testing.T) {
				ctx := withToken(t.Context(), tc.token)
				for _, v := range tc.md {
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
				}
				sub, err := call.do(ctx, client)
				if tc.wantCode == codes.OK {
					if err != nil || sub != testSub {
						t.Fatalf("call = %q, %v; want the handler to see subject %s", sub, err, testSub)
					}
					return
				}
				st := checkCode(t, err, tc.wantCode)
				if st.Message() != tc.wantMsg {
					t.Errorf("message %q, want %q", st.Message(), tc.wantMsg)
				}
				if tc.token != "" && strings.Contains(st.Message(), tc.token[:20]) {
					t.Errorf("message %q echoes the token", st.Message())
				}
			})
		}
	}
}

func TestInterceptors_Unavailable(t *testing.T) {
	f := newFixture(t)
	client := serve(t, f.v, jwtxgrpc.WithRetryDelay(3*time.Second))
	defaults := serve(t, f.v)
	good := f.token(t, nil)
	f.store.FailWith(errors.New("redis: connection refused"))
	for _, call := range calls {
		for _, tc := range []struct {
			name   string
			client healthpb.HealthClient
			delay  time.Duration
		}{
			{"WithRetryDelay", client, 3 * time.Second},
			{"DefaultDelay", defaults, jwtxgrpc.DefaultRetryDelay},
		} {
			t.Run(call.name+"/"+tc.name, func(t *testing.T) {
				_, err := call.do(withToken(t.Context(), good), tc.client)
				st := checkCode(t, err, codes.Unavailable)
				var infos []*errdetails.RetryInfo
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						infos = append(infos, ri)
					}
				}
				if len(infos) != 1 || infos[0].GetRetryDelay().AsDuration() != tc.delay {
					t.Fatalf("details %v, want one RetryInfo of %v", st.Details(), tc.delay)
				}
			})
		}
	}
	t.Run("InvalidBeatsUnavailable", func(t *testing.T) {
		_, err := callCheck(withToken(t.Context(), "abc.def.ghi"), client)
		checkCode(t, err, codes.Unauthenticated)
	})
}

func TestInterceptors_Scopes(t *testing.T) {
	f := newFixture(t)
	client := serve(t, f.v,
		jwtxgrpc.RequireScopes(methCheck, "health:read"),
		jwtxgrpc.RequireScopes(methWatch, "health:read", "health:watch"),
	)
	both := f.token(t, map[string]any{"scope": "health:watch profile health:read"})
	read := f.token(t, map[string]any{"scope": "health:read"})
	none := f.token(t, nil)
	tests := []struct {
		name  string
		token string
		want  map[string]codes.Code // by method
	}{
		{"Both", both, map[string]codes.Code{methCheck: codes.OK, methWatch: codes.OK}},
		{"ReadOnly", read, map[string]codes.Code{methCheck: codes.OK, methWatch: codes.PermissionDenied}},
		{"NoScope", none, map[string]codes.Code{methCheck: codes.PermissionDenied, methWatch: codes.PermissionDenied}},
		{"NoToken", "", map[string]codes.Code{methCheck: codes.Unauthenticated, methWatch: codes.Unauthenticated}},
	}
	for _, call := range calls {
		for _, tc := range tests {
			t.Run(call.name+"/"+tc.name, func(t *testing.T) {
				sub, err := call.do(withToken(t.Context(), tc.token), client)
				want := tc.want[call.method]
				if want == codes.OK {
					if err != nil || sub != testSub {
						t.Fatalf("call = %q, %v; want OK with subject %s", sub, err, testSub)
					}
					return
				}
				checkCode(t, err, want)
			})
		}
	}
	t.Run("UnscopedMethodNeedsOnlyAToken", func(t *testing.T) {
		var hdr metadata.MD
		if _, err := client.List(withToken(t.Context(), none), &healthpb.HealthListRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatalf("List: %v", err)
		}
		if got := hdr.Get(subjectHeader); len(got) != 1 || got[0] != testSub {
			t.Errorf("List saw %v", got)
		}
	})
}

func TestInterceptors_SkipMethods(t *testing.T) {
	f := newFixture(t)
	client := serve(t, f.v, jwtxgrpc.SkipMethods(methCheck, methWatch))
	for _, call := range calls {
		t.Run(call.name+"/NoToken", func(t *testing.T) {
			sub, err := call.do(t.Context(), client)
			if err != nil || sub != "none" {
				t.Fatalf("call = %q, %v; want OK without claims", sub, err)
			}
		})
		t.Run(call.name+"/BadTokenIgnored", func(t *testing.T) {
			sub, err := call.do(withToken(t.Context(), "abc.def.ghi"), client)
			if err != nil || sub != "none" {
				t.Fatalf("call = %q, %v; want OK without claims", sub, err)
			}
		})
	}
	t.Run("OtherMethodStillChecked", func(t *testing.T) {
		_, err := client.List(t.Context(), &healthpb.HealthListRequest{})
		checkCode(t, err, codes.Unauthenticated)
	})
}

func TestInterceptors_SkippedAndScopedPanics(t *testing.T) {
	f := newFixture(t)
	for name, build := range map[string]func(){
		"Unary": func() {
			jwtxgrpc.UnaryServerInterceptor(f.v, jwtxgrpc.SkipMethods(methCheck), jwtxgrpc.RequireScopes(methCheck, "a"))
		},
		"Stream": func() {
			jwtxgrpc.StreamServerInterceptor(f.v, jwtxgrpc.RequireScopes(methWatch, "a"), jwtxgrpc.SkipMethods(methWatch))
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			build()
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

func TestInterceptors_Logger(t *testing.T) {
	f := newFixture(t)
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := serve(t, f.v, jwtxgrpc.WithLogger(logger), jwtxgrpc.RequireScopes(methWatch, "health:watch"))
	const tenant = "tenant-secret-4711"
	expired := f.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "tenant": tenant})
	noScope := f.token(t, map[string]any{"tenant": tenant})
	tests := []struct {
		name   string
		call   func(context.Context, healthpb.HealthClient) (string, error)
		token  string
		wants  []string
		unavai bool
	}{
		{"Expired", callCheck, expired, []string{"method=" + methCheck, "code=Unauthenticated", "reason=expired"}, false},
		{"Scope", callWatch, noScope, []string{"method=" + methWatch, "code=PermissionDenied", "reason=insufficient_scope"}, false},
		{"Unavailable", callCheck, noScope, []string{"code=Unavailable", "reason=unavailable"}, true},
		{"Missing", callCheck, "", []string{"code=Unauthenticated", "reason=missing_token"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unavai {
				f.store.SetInitialized(false)
				t.Cleanup(func() { f.store.SetInitialized(true) })
			}
			buf.take()
			if _, err := tc.call(withToken(t.Context(), tc.token), client); err == nil {
				t.Fatal("call succeeded")
			}
			line := buf.take()
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, "level=DEBUG") {
				t.Fatalf("log %q, want one debug line", line)
			}
			for _, w := range tc.wants {
				if !strings.Contains(line, w) {
					t.Errorf("log %q lacks %q", line, w)
				}
			}
			if tc.token != "" {
				parts := strings.Split(tc.token, ".")
				for _, secret := range []string{tc.token, parts[0], parts[1], parts[2], tenant, testSub, testJTI} {
					if strings.Contains(line, secret) {
						t.Errorf("log %q contains %q from the token", line, secret)
					}
				}
			}
		})
	}
	t.Run("OKNotLogged", func(t *testing.T) {
		buf.take()
		if _, err := callCheck(withToken(t.Context(), noScope), client); err != nil {
			t.Fatal(err)
		}
		if s := buf.take(); s != "" {
			t.Errorf("an accepted call was logged: %q", s)
		}
	})
}

// TestInterceptors_StreamContext checks the handler's stream context is the
// client's call context with the claims added: cancelling the call ends the
// handler.
func TestInterceptors_StreamContext(t *testing.T) {
	f := newFixture(t)
	client := serve(t, f.v)
	ctx, cancel := context.WithCancel(withToken(t.Context(), f.token(t, nil)))
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled && !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after cancel = %v, want Canceled", err)
	}
}
