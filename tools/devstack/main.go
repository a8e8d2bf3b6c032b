// Command devstack is what `make run` starts: an embedded nats-server with
// JetStream, a Redis (REDIS_URL if set, else a local redis-server process,
// else an in-process development stand-in), the revocation service and the
// auth service, with a few curl lines to try it. It is a development tool,
// not a deployment: see deploy/ for that.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(getenv, args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "devstack")

	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", cfg.dir, err)
	}
	natsURL, stopNATS, err := startNATS(cfg)
	if err != nil {
		return err
	}
	defer stopNATS()
	logger.Info("embedded nats-server with JetStream", "url", natsURL, "store", cfg.natsDir())

	redisURL, stopRedis, err := startRedis(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer stopRedis()

	keyFile, err := ensureSigningKey(cfg.keyFile())
	if err != nil {
		return err
	}
	env := []string{
		"NATS_URL=" + natsURL,
		"REDIS_URL=" + redisURL,
		"LOG_FORMAT=text",
		"LOG_LEVEL=" + cfg.logLevel,
	}
	procs := newSupervisor(logger, stderr)
	defer procs.stopAll()
	if err := procs.start(ctx, "revocation", cfg.revocationBin, append(env,
		"REVOCATION_HTTP_ADDR="+cfg.revocationAddr,
		"REVOCATION_METRICS_ADDR="+cfg.revocationMetricsAddr)); err != nil {
		return err
	}
	if err := procs.start(ctx, "auth", cfg.authBin, append(env,
		"AUTH_HTTP_ADDR="+cfg.authAddr,
		"AUTH_METRICS_ADDR="+cfg.authMetricsAddr,
		"AUTH_DB_PATH="+cfg.dbPath(),
		"AUTH_SIGNING_KEY_FILE="+keyFile,
		"AUTH_ISSUER="+cfg.issuer,
	)); err != nil {
		return err
	}
	if err := waitReady(ctx, procs, "http://"+localAddr(cfg.revocationAddr)+"/readyz", "http://"+localAddr(cfg.authAddr)+"/readyz"); err != nil {
		return err
	}
	printTryIt(stdout, endpoints{
		auth: localAddr(cfg.authAddr), revocation: localAddr(cfg.revocationAddr),
		authMetrics: cfg.authMetricsAddr, revocationMetrics: cfg.revocationMetricsAddr,
		natsURL: natsURL, redisURL: redisURL,
	})

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case <-procs.failed:
		return procs.err
	}
}
