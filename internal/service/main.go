package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// ExitCode is the exit status for the error a service's run returned: 0
// for nil and flag.ErrHelp (the usage was printed), 2 for ErrUsage, 1
// otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

// Main is the body of every cmd/<name>/main.go: it calls run with a
// context canceled by SIGINT or SIGTERM (run shuts down gracefully when it
// is), writes "name: err" to stderr for a failure, and exits with
// ExitCode.
func Main(name string, run func(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Args[1:], os.Stderr)
	stop()
	code := ExitCode(err)
	if code != 0 {
		fmt.Fprintln(os.Stderr, name+":", err)
	}
	os.Exit(code)
}
