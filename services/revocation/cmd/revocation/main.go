// Command revocation consumes the REVOCATIONS JetStream stream and
// materialises it into Redis for pkg/jwtx validators. Run it with --help
// for its settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventjwt/eventjwt/services/revocation/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Getenv, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, app.ErrUsage):
		fmt.Fprintln(os.Stderr, "revocation:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "revocation:", err)
		os.Exit(1)
	}
}
