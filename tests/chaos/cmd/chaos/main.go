// Command chaos runs the eventjwt fault-injection harness against the real
// binaries and prints a per-scenario table; with -full it runs `make
// chaos`'s large version and writes the table to docs/RELIABILITY.md. It
// exits 1 when a guarantee broke.
//
//	go run ./cmd/chaos -full -root ../..
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/eventjwt/eventjwt/tests/chaos"
)

func main() {
	full := flag.Bool("full", false, "the full run (minutes): 100k backlog, >= 1M validations")
	root := flag.String("root", "../..", "repository root")
	doc := flag.String("doc", "", "write the table into this file (default docs/RELIABILITY.md with -full)")
	only := flag.String("only", "", "comma-separated scenario names to run")
	flag.Parse()
	abs, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	cfg := chaos.Short(abs)
	cfg.Log = os.Stderr
	if *full {
		cfg = chaos.Full(abs)
		if *doc == "" {
			*doc = filepath.Join(abs, "docs", "RELIABILITY.md")
		}
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, cfg)
	if rep != nil {
		fmt.Print(rep.Table())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if *doc != "" && len(cfg.Only) == 0 {
		if err := rep.WriteDoc(*doc); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
	}
	if n := rep.Violations(); n > 0 {
		fmt.Fprintf(os.Stderr, "chaos: %d violations\n", n)
		os.Exit(1)
	}
}
