// Command revocation consumes the REVOCATIONS JetStream stream and
// materialises it into Redis for pkg/jwtx validators. Run it with --help
// for its settings.
package main

import (
	"context"
	"io"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/services/revocation/internal/app"
)

func main() {
	service.Main("revocation", func(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer) error {
		return app.Run(ctx, getenv, args, stderr)
	})
}
