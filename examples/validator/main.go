// Command validator is a small example microservice protected by pkg/jwtx:
// it fetches the auth service's JWKS at start, checks every request's
// bearer token (signature, claims, then revocation in Redis, failing closed)
// and serves GET /v1/orders to authenticated users. Run it with --help for
// its settings.
package main

import (
	"context"
	"io"

	"github.com/eventjwt/eventjwt/internal/service"
)

func main() {
	service.Main("validator", func(ctx context.Context, getenv func(string) string, args []string, _ io.Writer) error {
		return run(ctx, getenv, args)
	})
}
