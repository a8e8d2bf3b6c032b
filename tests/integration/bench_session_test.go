package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Load of BenchmarkSessions.
const (
	refreshRate     = 500 // refreshes per second, for loadDuration
	refreshSessions = 100 // sessions the refreshes rotate through
	loginRate       = 10  // logins per second with the production argon2id cost (2 cores: about 13/s at most)
)

// BenchmarkSessions measures, on the real binaries (real redis-server,
// embedded NATS fsyncing every message):
//
//   - auth-login: POST /v1/auth/login at 10/s with the default argon2id
//     parameters (64 MiB, 2 passes, 2 lanes), which bound the login rate;
//     the 100 logins start the sessions of the next part;
//   - auth-refresh: POST /v1/auth/refresh at 500/s, open loop, rotating
//     through the 100 sessions: each call spends the refresh token the
//     previous call of its session received (a session's calls are 200 ms
//     apart; a call whose predecessor has not answered yet waits for it,
//     and the wait counts in its latency, measured from its scheduled
//     start).
//
// BenchmarkLogout gives logout's figures in the same run.
func BenchmarkSessions(b *testing.B) {
	s := newStack(b, stackOpts{logLevel: "warn", authEnv: []string{
		"AUTH_ARGON2_MEMORY_KIB=65536", "AUTH_ARGON2_ITERATIONS=2", "AUTH_ARGON2_PARALLELISM=2",
		"AUTH_LOGIN_RATE_IP=off", "AUTH_LOGIN_RATE_USER=off",
	}})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	name, _ := s.Register()
	post := func(ctx context.Context, path string, body any) (map[string]any, error) {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.AuthURL+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, fmt.Errorf("%s answered %d with a body that is not JSON: %w", path, resp.StatusCode, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s answered %d: %v", path, resp.StatusCode, out)
		}
		return out, nil
	}
	refreshToken := func(m map[string]any) (string, error) {
		rt, _ := m["refresh_token"].(string)
		if rt == "" {
			return "", fmt.Errorf("no refresh_token in %v", m)
		}
		return rt, nil
	}

	sessions := make([]chan string, refreshSessions) // each holds its session's current refresh token
	b.Run("auth-login", func(b *testing.B) {
		for range b.N {
			for i := range sessions {
				sessions[i] = make(chan string, 1)
			}
			openLoop(b, loginRate, refreshSessions, func(ctx context.Context, i int) error {
				m, err := post(ctx, "/v1/auth/login", map[string]string{"username": name, "password": "correct horse battery"})
				if err != nil {
					return err
				}
				rt, err := refreshToken(m)
				if err != nil {
					return err
				}
				sessions[i] <- rt
				return nil
			})
		}
	})
	b.Run("auth-refresh", func(b *testing.B) {
		n := int(refreshRate * loadDuration / time.Second)
		for range b.N {
			openLoop(b, refreshRate, n, func(ctx context.Context, i int) error {
				ch := sessions[i%refreshSessions]
				var rt string
				select {
				case rt = <-ch:
				case <-ctx.Done():
					return ctx.Err()
				}
				m, err := post(ctx, "/v1/auth/refresh", map[string]string{"refresh_token": rt})
				if err != nil {
					ch <- rt // give the session back: the next call fails the same way, loudly
					return err
				}
				next, err := refreshToken(m)
				if err != nil {
					return err
				}
				ch <- next
				return nil
			})
		}
	})
}
