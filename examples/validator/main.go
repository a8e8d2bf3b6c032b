// Command validator is a small example microservice protected by pkg/jwtx:
// it fetches the auth service's JWKS at start, checks every request's
// bearer token (signature, claims, then revocation in Redis, failing closed)
// and serves GET /v1/orders to authenticated users. Run it with --help for
// its settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventjwt/eventjwt/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Args[1:])
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, service.ErrUsage):
		fmt.Fprintln(os.Stderr, "validator:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "validator:", err)
		os.Exit(1)
	}
}
