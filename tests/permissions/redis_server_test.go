package permissions

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// redisPassword is the public test password of a Redis user of users.acl.
func redisPassword(user string) string { return "redis-" + user + "-TEST-ONLY" }

// redisServer is a redis-server process running deploy/redis/redis.conf.
type redisServer struct {
	// Libraries maps each library file's prefix to the library loaded
	// from it (loadFunctions).
	Libraries map[string]string
	Addr string      // 127.0.0.1:<port>
	TLS  *tls.Config // client TLS settings when the server has TLS on
}

// startRedis runs redis-server with deploy/redis/redis.conf and a copy of
// deploy/redis/users.acl, overriding only the port, the data directory and
// the ACL file's path. The test fails (it is never skipped) when
// redis-server is not installed.
func startRedis(tb testing.TB) *redisServer {
	tb.Helper()
	return startRedisConf(tb, deployPath(tb, "redis", "redis.conf"), nil)
}

// startRedisConf runs the configuration file conf. With clientTLS, the
// port given is the TLS port (the plain one is off) and clients use
// clientTLS.
func startRedisConf(tb testing.TB, conf string, clientTLS *tls.Config) *redisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	dir := tb.TempDir()
	acl, err := os.ReadFile(deployPath(tb, "redis", "users.acl"))
	if err != nil {
		tb.Fatal(err)
	}
	aclPath := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(aclPath, acl, 0o600); err != nil {
		tb.Fatal(err)
	}
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind
		port := testkit.FreePort(tb)
		r := &redisServer{Addr: "127.0.0.1:" + strconv.Itoa(port), TLS: clientTLS}
		ports := []string{"--port", strconv.Itoa(port)}
		if clientTLS != nil {
			ports = []string{"--port", "0", "--tls-port", strconv.Itoa(port)}
		}
		// Not CommandContext: the process outlives this call and is
		// stopped by the cleanup, which waits for it.
		cmd := exec.Command(bin, append(append([]string{conf}, ports...), //nolint:noctx // see above
			"--dir", dir, "--aclfile", aclPath)...)
		out := &testkit.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if lastErr = r.waitReady(done, out); lastErr == nil {
			tb.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
			r.Libraries = loadFunctions(tb, r)
			return r
		}
		_ = cmd.Process.Kill()
		<-done
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// waitReady polls PING as admin until it answers or the process exits.
func (r *redisServer) waitReady(done <-chan struct{}, out *testkit.Buffer) error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "admin", Password: redisPassword("admin"),
		MaxRetries: -1, DialTimeout: time.Second, TLSConfig: r.TLS})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING: %w (%s)", err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL returns REDIS_URL for user, as a service gets it.
func (r *redisServer) URL(user string) string {
	return fmt.Sprintf("redis://%s:%s@%s/0", user, redisPassword(user), r.Addr)
}

// client returns a client logged in as user, built the way the services
// build theirs: jwtx.RedisOptions (validators, auth) from REDIS_URL, plus
// the client name the revocation service sets.
func (r *redisServer) client(tb testing.TB, user string) *redis.Client {
	tb.Helper()
	opts, err := jwtx.RedisOptions(r.URL(user))
	if err != nil {
		tb.Fatal(err)
	}
	// -race (and TLS handshakes) on a loaded machine: slower than a real one.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 5*time.Second, 2*time.Second, 2*time.Second
	opts.TLSConfig = r.TLS
	if user == "revocation" {
		opts.ClientName = "revocation"
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// aclLog returns the ACL LOG entries (denials) as "user: command" lines,
// leaving out the handshake commands go-redis sends and tolerates being
// refused (CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS on Redis 7.2+).
func aclLog(tb testing.TB, admin *redis.Client) []string {
	tb.Helper()
	entries, err := admin.ACLLog(context.Background(), 100).Result()
	if err != nil {
		tb.Fatalf("ACL LOG: %v", err)
	}
	var out []string
	for _, e := range entries {
		if e.Object == "client|setinfo" || e.Object == "client|maint_notifications" {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s %s (%s)", e.Username, e.Reason, e.Object, e.Context))
	}
	return out
}
