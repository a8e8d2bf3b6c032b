package permissions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// refusedCmd is one command an identity must not run.
type refusedCmd struct {
	name string
	args []any
}

// expectRefused runs each command as c and requires a NOPERM refusal
// (from the ACL, directly or from inside a script).
func expectRefused(t *testing.T, c *redis.Client, cmds []refusedCmd) {
	t.Helper()
	for _, tc := range cmds {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Do(context.Background(), tc.args...).Err()
			if err == nil || errors.Is(err, redis.Nil) {
				t.Fatalf("%v succeeded", tc.args)
			}
			if !refusedByACL(err) {
				t.Fatalf("%v: %v, want a NOPERM refusal", tc.args, err)
			}
		})
	}
}

// refusedByACL reports whether err is the ACL refusing a command: NOPERM,
// or its wording for a command inside a script.
func refusedByACL(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.Contains(msg, "The user executing the script can't")
}

// seedView writes a revoked token, a user version and the checkpoint as
// admin, and returns the jti and user id.
func seedView(t *testing.T, admin *redis.Client) (jti, user string) {
	t.Helper()
	ctx := context.Background()
	jti, user = uuid.NewString(), uuid.NewString()
	if err := admin.Set(ctx, jwtx.BlacklistKey(jti), `{"type":"token.revoked"}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Set(ctx, jwtx.UserVersionKey(user), 3, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Set(ctx, jwtx.KeyCheckpoint, 7, 0).Err(); err != nil {
		t.Fatal(err)
	}
	return jti, user
}

// everyoneRefused are commands no service identity may run.
func everyoneRefused() []refusedCmd {
	return []refusedCmd{
		{"FlushAll", []any{"flushall"}},
		{"FlushDB", []any{"flushdb"}},
		{"Keys", []any{"keys", "*"}},
		{"Scan", []any{"scan", "0"}},
		{"ConfigSet", []any{"config", "set", "appendfsync", "no"}},
		{"ConfigGet", []any{"config", "get", "*"}},
		{"ACLSetUser", []any{"acl", "setuser", "default", "on", "nopass", "+@all", "~*"}},
		{"ScriptFlush", []any{"script", "flush"}},
		{"Shutdown", []any{"shutdown", "nosave"}},
		{"ClientKill", []any{"client", "kill", "type", "normal"}},
		{"Monitor", []any{"monitor"}},
		{"Publish", []any{"publish", "revocation", "x"}},
		{"DelAuthKey", []any{"del", "auth:ratelimit:ip:203.0.113.7"}},
		{"SetOtherKey", []any{"set", "orders:1", "x"}},
	}
}

func TestRedisConfigFile(t *testing.T) {
	r := startRedis(t)
	admin := r.client(t, "admin")
	ctx := t.Context()
	for param, want := range map[string]string{
		"maxmemory-policy": "noeviction", "appendonly": "yes", "appendfsync": "always", "protected-mode": "yes",
	} {
		got, err := admin.ConfigGet(ctx, param).Result()
		if err != nil || got[param] != want {
			t.Errorf("%s = %q (%v), want %q", param, got[param], err, want)
		}
	}
}

func TestRedisRefusesAnonymousAndWrongPassword(t *testing.T) {
	r := startRedis(t)
	ctx := t.Context()
	anon := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer anon.Close()
	if err := anon.Get(ctx, jwtx.KeyCheckpoint).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("anonymous GET = %v, want NOAUTH", err)
	}
	if err := anon.Do(ctx, "auth", "default", "").Err(); err == nil {
		t.Fatal("AUTH as the default user succeeded")
	}
	wrong := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "validator", Password: "guess", MaxRetries: -1})
	defer wrong.Close()
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v, want WRONGPASS", err)
	}
}

func TestRedisValidatorIdentity(t *testing.T) {
	r := startRedis(t)
	admin, v := r.client(t, "admin"), r.client(t, "validator")
	jti, user := seedView(t, admin)
	ctx := t.Context()
	if err := admin.ACLLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("OKChecksRevocationInOneMGET", func(t *testing.T) {
		st, err := jwtx.NewRedisStore(v).RevocationState(ctx, jti, user)
		if err != nil {
			t.Fatal(err)
		}
		if !st.TokenRevoked || st.UserVersion != 3 || !st.Initialized {
			t.Fatalf("state = %+v", st)
		}
		for _, k := range []string{jwtx.BlacklistKey(jti), jwtx.UserVersionKey(user), jwtx.KeyCheckpoint} {
			if err := v.Get(ctx, k).Err(); err != nil {
				t.Fatalf("GET %s: %v", k, err)
			}
		}
		if err := v.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if log := aclLog(t, admin); len(log) > 0 {
			t.Fatalf("the allowed path was refused somewhere (handshake?): %v", log)
		}
	})
	t.Run("Err", func(t *testing.T) {
		expectRefused(t, v, append(everyoneRefused(),
			refusedCmd{"SetBlacklist", []any{"set", jwtx.BlacklistKey(uuid.NewString()), "x"}},
			refusedCmd{"DelBlacklist", []any{"del", jwtx.BlacklistKey(jti)}},
			refusedCmd{"ExpireBlacklist", []any{"pexpire", jwtx.BlacklistKey(jti), 1}},
			refusedCmd{"LowerUserVersion", []any{"set", jwtx.UserVersionKey(user), 0}},
			refusedCmd{"DelCheckpoint", []any{"del", jwtx.KeyCheckpoint}},
			refusedCmd{"Eval", []any{"eval", "return 1", 0}},
			refusedCmd{"GetAuthKey", []any{"get", "auth:ratelimit:ip:203.0.113.7"}},
			refusedCmd{"GetRebuildMarker", []any{"smembers", "revocation:rebuild"}},
			refusedCmd{"MGetOtherKey", []any{"mget", jwtx.BlacklistKey(jti), "orders:1"}},
		))
	})
	if got, _ := admin.Exists(ctx, jwtx.BlacklistKey(jti), jwtx.UserVersionKey(user), jwtx.KeyCheckpoint).Result(); got != 3 {
		t.Fatalf("the view lost keys: %d of 3 left", got)
	}
}

// revocationCommands runs, in one script and directly, every command the
// revocation service's scripts (services/revocation/internal/store) and
// reads use, on its keys. The end-to-end test runs the real scripts.
const revocationCommands = `
redis.call('SET', KEYS[3], 'ev', 'NX', 'PXAT', ARGV[1])
local cur = redis.call('GET', KEYS[4])
redis.call('SET', KEYS[4], '4', 'PXAT', ARGV[1])
local exp = redis.call('PEXPIRETIME', KEYS[4])
redis.call('PEXPIREAT', KEYS[4], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SADD', KEYS[2], 'id')
  redis.call('PEXPIRE', KEYS[2], 60000)
end
if redis.call('SISMEMBER', KEYS[2], 'id') == 1 then redis.call('SREM', KEYS[2], 'id') end
redis.call('SET', KEYS[1], '8')
return redis.call('GET', KEYS[1])
`

func TestRedisRevocationIdentity(t *testing.T) {
	r := startRedis(t)
	admin, rc := r.client(t, "admin"), r.client(t, "revocation")
	jti, user := seedView(t, admin)
	ctx := t.Context()
	if err := admin.ACLLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("OKAppliesWithItsCommands", func(t *testing.T) {
		pxat := time.Now().Add(time.Hour).UnixMilli()
		keys := []string{jwtx.KeyCheckpoint, "revocation:rebuild", jwtx.BlacklistKey(uuid.NewString()), jwtx.UserVersionKey(user)}
		script := redis.NewScript(revocationCommands)
		for range 2 { // EVAL, then EVALSHA of the cached script
			if got, err := script.Run(ctx, rc, keys, pxat).Text(); err != nil || got != "8" {
				t.Fatalf("script = %q, %v", got, err)
			}
		}
		if err := rc.SAdd(ctx, "revocation:rebuild", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rc.SRem(ctx, "revocation:rebuild", "x").Err(); err != nil { // AbandonRebuild
			t.Fatal(err)
		}
		if err := rc.Get(ctx, jwtx.KeyCheckpoint).Err(); err != nil {
			t.Fatal(err)
		}
		if log := aclLog(t, admin); len(log) > 0 {
			t.Fatalf("the allowed path was refused somewhere: %v", log)
		}
	})
	t.Run("Err", func(t *testing.T) {
		expectRefused(t, rc, append(everyoneRefused(),
			refusedCmd{"SetAuthKey", []any{"set", "auth:ratelimit:ip:203.0.113.7", "0"}},
			refusedCmd{"GetAuthKey", []any{"get", "auth:ratelimit:ip:203.0.113.7"}},
			refusedCmd{"EvalDeclaredAuthKey", []any{"eval", "return redis.call('SET', KEYS[1], '0')", 1, "auth:ratelimit:ip:203.0.113.7"}},
			refusedCmd{"EvalUndeclaredAuthKey", []any{"eval", "return redis.call('SET', 'auth:ratelimit:ip:203.0.113.7', '0')", 0}},
			refusedCmd{"EvalFlush", []any{"eval", "return redis.call('FLUSHALL')", 0}},
			refusedCmd{"DelBlacklist", []any{"del", jwtx.BlacklistKey(jti)}},
			refusedCmd{"Persist", []any{"persist", jwtx.BlacklistKey(jti)}},
			refusedCmd{"ScriptLoad", []any{"script", "load", "return 1"}},
		))
	})
}

// rateLimitCommands runs the commands of the auth service's rate limiter
// (services/auth/internal/ratelimit) on one counter.
const rateLimitCommands = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if redis.call('INCR', KEYS[1]) == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
redis.call('DECR', KEYS[1])
redis.call('INCR', KEYS[1])
redis.call('DEL', KEYS[1])
return n
`

func TestRedisAuthIdentity(t *testing.T) {
	r := startRedis(t)
	admin, a := r.client(t, "admin"), r.client(t, "auth")
	jti, user := seedView(t, admin)
	ctx := t.Context()
	if err := admin.ACLLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("OKValidatesAndRateLimits", func(t *testing.T) {
		st, err := jwtx.NewRedisStore(a).RevocationState(ctx, jti, user)
		if err != nil || !st.TokenRevoked || !st.Initialized {
			t.Fatalf("state = %+v, %v", st, err)
		}
		if err := a.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		script := redis.NewScript(rateLimitCommands)
		for range 2 {
			if err := script.Run(ctx, a, []string{"auth:ratelimit:ip:203.0.113.7"}, 60000).Err(); err != nil {
				t.Fatalf("rate limit script: %v", err)
			}
		}
		if log := aclLog(t, admin); len(log) > 0 {
			t.Fatalf("the allowed path was refused somewhere: %v", log)
		}
	})
	t.Run("Err", func(t *testing.T) {
		cmds := everyoneRefused()[:12] // its own auth:* keys are the exception
		expectRefused(t, a, append(cmds,
			refusedCmd{"SetOtherKey", []any{"set", "orders:1", "x"}},
			refusedCmd{"SetBlacklist", []any{"set", jwtx.BlacklistKey(uuid.NewString()), "x"}},
			refusedCmd{"DelBlacklist", []any{"del", jwtx.BlacklistKey(jti)}},
			refusedCmd{"DelCheckpoint", []any{"del", jwtx.KeyCheckpoint}},
			refusedCmd{"IncrUserVersion", []any{"incr", jwtx.UserVersionKey(user)}},
			refusedCmd{"EvalDeclaredViewKey", []any{"eval", "return redis.call('DEL', KEYS[1])", 1, jwtx.BlacklistKey(jti)}},
			refusedCmd{"EvalUndeclaredViewKey", []any{"eval", "return redis.call('DEL', '" + jwtx.KeyCheckpoint + "')", 0}},
			refusedCmd{"SetAuthKeyOutsideScripts", []any{"set", "auth:ratelimit:ip:203.0.113.7", "0"}},
			refusedCmd{"GetOtherAuthKey", []any{"get", "auth:session:1"}},
		))
	})
	if got, _ := admin.Exists(ctx, jwtx.BlacklistKey(jti), jwtx.UserVersionKey(user), jwtx.KeyCheckpoint).Result(); got != 3 {
		t.Fatalf("the view lost keys: %d of 3 left", got)
	}
}
