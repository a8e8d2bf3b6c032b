// Command auth is the auth service: users, tokens and logout. See --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventjwt/eventjwt/services/auth/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Getenv, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.Is(err, app.ErrUsage):
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}
