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
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// supervisor runs the service binaries as child processes and stops them
// with SIGTERM (graceful shutdown), in reverse order.
type supervisor struct {
	logger *slog.Logger
	stdout io.Writer
	mu     sync.Mutex
	procs  []*child
	exited chan error
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *supervisor) start(ctx context.Context, name, bin string, env []string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s binary %s not found (run make build): %w", name, bin, err)
	}
	s.mu.Lock()
	if s.exited == nil {
		s.exited = make(chan error, 4)
	}
	s.mu.Unlock()
	// Not CommandContext: children get SIGTERM from stopAll, not SIGKILL.
	cmd := exec.Command(bin) //nolint:noctx // see above
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = s.stdout, s.stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(c.done)
		if ctx.Err() == nil {
			s.exited <- fmt.Errorf("%s exited unexpectedly: %w", name, err)
		}
	}()
	s.mu.Lock()
	s.procs = append(s.procs, c)
	s.mu.Unlock()
	s.logger.Info("started", "service", name, "pid", cmd.Process.Pid)
	return nil
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		c := procs[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			s.logger.Warn("did not stop in time; killing", "service", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// waitReady polls each readiness URL until it answers 200.
func waitReady(ctx context.Context, s *supervisor, urls ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return fmt.Errorf("readiness %s: %w", u, err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("not ready: %s: %w", u, ctx.Err())
			case err := <-s.exited:
				return err
			case <-time.After(100 * time.Millisecond):
			}
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
  auth        http://%[1]s   (register, login, me, logout, logout-all-devices, jwks, /healthz /readyz)
  revocation  http://%[2]s   (/healthz /readyz)
  metrics     http://%[5]s/metrics (auth)   http://%[6]s/metrics (revocation)   loopback only
  NATS        %[3]s  (JetStream stream REVOCATIONS)
  Redis       %[4]s

Try it (needs curl):
  curl -s -X POST http://%[1]s/v1/auth/register -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse battery"}'
  TOKEN=$(curl -s -X POST http://%[1]s/v1/auth/login -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse battery"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s http://%[1]s/v1/auth/me -H "Authorization: Bearer $TOKEN"
  curl -s -o /dev/null -w '%%{http_code}\n' -X POST http://%[1]s/v1/auth/logout -H "Authorization: Bearer $TOKEN"    # 204: revoked and enforced
  curl -s -i http://%[1]s/v1/auth/me -H "Authorization: Bearer $TOKEN"                                                # 401 token_revoked
  curl -s http://%[5]s/metrics | grep '^auth_logout_outcomes_total'                                              # the 204 counted

Press Ctrl-C to stop everything.
`, t.auth, t.revocation, t.natsURL, t.redisURL, t.authMetrics, t.revocationMetrics)
}
