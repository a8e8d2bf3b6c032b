package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// supervisor runs the service binaries as child processes and stops them
// with SIGTERM (graceful shutdown), in reverse order. The first child to
// exit on its own closes failed.
type supervisor struct {
	logger *slog.Logger
	stdout io.Writer
	mu     sync.Mutex
	procs  []*testkit.Proc
	once   sync.Once
	failed chan struct{}
	err    error // why failed was closed
}

func newSupervisor(logger *slog.Logger, stdout io.Writer) *supervisor {
	return &supervisor{logger: logger, stdout: stdout, failed: make(chan struct{})}
}

func (s *supervisor) fail(err error) {
	s.once.Do(func() { s.err = err; close(s.failed) })
}

func (s *supervisor) start(ctx context.Context, name, bin string, env []string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s binary %s not found (run make build): %w", name, bin, err)
	}
	p := testkit.NewProc(name, bin, nil, env)
	p.Out, p.StopTimeout = s.stdout, 10*time.Second
	if err := p.Start(); err != nil {
		return err
	}
	go func() {
		<-p.Done()
		if ctx.Err() == nil {
			s.fail(fmt.Errorf("%s exited unexpectedly: %w", name, p.Err()))
		}
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.logger.Info("started", "service", name, "pid", p.Pid())
	return nil
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(); err != nil {
			s.logger.Warn("did not stop in time; killed", "service", procs[i].Name)
		}
	}
}

// waitReady polls each readiness URL until it answers 200, for 60s at
// most, and gives up when a child exits.
func waitReady(ctx context.Context, s *supervisor, urls ...string) error {
	const timeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	go func() {
		select {
		case <-s.failed:
			fail(s.err)
		case <-ctx.Done():
		}
	}()
	for _, u := range urls {
		if err := testkit.PollHTTP(ctx, timeout, u, http.StatusOK); err != nil {
			select {
			case <-s.failed:
				return s.err
			default:
			}
			return fmt.Errorf("not ready: %w", err)
		}
	}
	return nil
}

// ensureSigningKey keeps one Ed25519 key in the run directory so tokens
// survive a restart of make run.
func ensureSigningKey(path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("signing key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode signing key: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return "", fmt.Errorf("write signing key: %w", err)
	}
	return path, nil
}

// endpoints are what the instructions name: host:port of each listener, and
// the NATS and Redis URLs.
type endpoints struct {
	auth, revocation, authMetrics, revocationMetrics string
	natsURL, redisURL                                string
}

func printTryIt(w io.Writer, t endpoints) {
	_, _ = fmt.Fprintf(w, `
Event-driven JWT revocation is running.
  auth        http://%[1]s   (register, login, refresh, sessions, password, me, logout, logout-all-devices, jwks, /healthz /readyz)
  revocation  http://%[2]s   (/healthz /readyz)
  metrics     http://%[5]s/metrics (auth)   http://%[6]s/metrics (revocation)   loopback only
  NATS        %[3]s  (JetStream stream REVOCATIONS)
  Redis       %[4]s

Try it (needs curl):
  curl -s -X POST http://%[1]s/v1/auth/register -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse battery"}'
  TOKEN=$(curl -s -X POST http://%[1]s/v1/auth/login -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse battery"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s http://%[1]s/v1/auth/me -H "Authorization: Bearer $TOKEN"
  curl -s http://%[1]s/v1/auth/sessions -H "Authorization: Bearer $TOKEN"                                             # this login is a session
  curl -s -o /dev/null -w '%%{http_code}\n' -X POST http://%[1]s/v1/auth/logout -H "Authorization: Bearer $TOKEN"    # 204: revoked and enforced
  curl -s -i http://%[1]s/v1/auth/me -H "Authorization: Bearer $TOKEN"                                                # 401 token_revoked
  curl -s http://%[5]s/metrics | grep '^auth_logout_outcomes_total'                                              # the 204 counted

Press Ctrl-C to stop everything.
`, t.auth, t.revocation, t.natsURL, t.redisURL, t.authMetrics, t.revocationMetrics)
}
