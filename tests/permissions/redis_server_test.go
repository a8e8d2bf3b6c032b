package permissions

import (
	"context"
	"crypto/tls"
	"fmt"
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
	Addr      string      // 127.0.0.1:<port>
	TLS       *tls.Config // client TLS settings when the server has TLS on
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
	opts := []testkit.RedisOption{
		testkit.RedisConfigFile(conf),
		testkit.RedisACL(deployPath(tb, "redis", "users.acl"), "admin", redisPassword("admin")),
	}
	if clientTLS != nil {
		opts = append(opts, testkit.RedisTLS(clientTLS))
	}
	rd := testkit.StartRedis(tb, opts...)
	r := &redisServer{Addr: rd.Addr, TLS: clientTLS}
	r.Libraries = loadFunctions(tb, r)
	return r
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
