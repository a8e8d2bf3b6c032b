// Command broadcast is an example microservice that holds long-lived
// connections for its users (server-sent events on GET /v1/stream) and
// closes them, on every replica, when the token they were opened with is
// revoked: each replica follows the revocation stream with its own
// events.Broadcast subscriber, and checks tokens at connect time with a
// near-cache (pkg/jwtx/nearcache) fed by the same stream, so it needs
// NATS and the auth service's JWKS, no Redis. Run it with --help for its
// settings.
package main

import (
	"context"
	"io"

	"github.com/eventjwt/eventjwt/internal/service"
)

func main() {
	service.Main("broadcast", func(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer) error {
		return run(ctx, getenv, args, stderr)
	})
}
