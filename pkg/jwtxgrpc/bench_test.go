package jwtxgrpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/eventjwt/eventjwt/pkg/jwtxgrpc"
)

// BenchmarkUnaryOverhead compares a unary call over loopback without
// ("bare") and with ("jwtx") the interceptor, which validates with the
// verified-token cache on and revocation from an in-memory store; both
// send the same authorization metadata. "jwtx-inprocess" calls the
// interceptor itself around a no-op handler: its pure cost.
func BenchmarkUnaryOverhead(b *testing.B) {
	f := newFixture(b)
	token := f.token(b, nil)
	req := &healthpb.HealthCheckRequest{}
	loopback := func(b *testing.B, client healthpb.HealthClient) {
		ctx := withToken(context.Background(), token)
		if _, err := client.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := client.Check(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { loopback(b, serve(b, nil)) })
	b.Run("jwtx", func(b *testing.B) { loopback(b, serve(b, f.v)) })
	b.Run("jwtx-inprocess", func(b *testing.B) {
		icpt := jwtxgrpc.UnaryServerInterceptor(f.v)
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
		info := &grpc.UnaryServerInfo{FullMethod: methCheck}
		noop := func(context.Context, any) (any, error) { return nil, nil }
		if _, err := icpt(ctx, req, info, noop); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := icpt(ctx, req, info, noop); err != nil {
				b.Fatal(err)
			}
		}
	})
}
