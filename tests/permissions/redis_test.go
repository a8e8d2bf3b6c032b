package permissions

import (
	"context"
	"errors"
	"strconv"
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
		// No service runs Lua of its own (red-team finding: a busy loop
		// from the auth identity froze Redis): only the loaded functions.
		{"Eval", []any{"eval", "return 1", 0}},
		{"EvalBusyLoop", []any{"eval", "while true do end", 0}},
		{"EvalSha", []any{"evalsha", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0}},
		{"EvalRO", []any{"eval_ro", "return 1", 0}},
		{"ScriptLoad", []any{"script", "load", "return 1"}},
		{"FunctionLoad", []any{"function", "load", "#!lua name=evil\nredis.register_function('evil', function() while true do end end)"}},
		{"FunctionDelete", []any{"function", "delete", "eventjwt_revocation"}},
		{"FunctionFlush", []any{"function", "flush"}},
		{"FunctionRestore", []any{"function", "restore", "x"}},
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
		"maxmemory": "1073741824", // bounded (red-team finding: no maxmemory)
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
		st, err := jwtx.NewRedisStore(v).RevocationState(ctx, jwtx.RevocationQuery{JTI: jti, UserID: user})
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
			refusedCmd{"FCall", []any{"fcall", r.Libraries["eventjwt_revocation"] + "_apply", 2, jwtx.KeyCheckpoint, "revocation:rebuild", "normal", "0", "9", "0"}},
			refusedCmd{"GetAuthKey", []any{"get", "auth:ratelimit:ip:203.0.113.7"}},
			refusedCmd{"GetRebuildMarker", []any{"smembers", "revocation:rebuild"}},
			refusedCmd{"MGetOtherKey", []any{"mget", jwtx.BlacklistKey(jti), "orders:1"}},
		))
	})
	if got, _ := admin.Exists(ctx, jwtx.BlacklistKey(jti), jwtx.UserVersionKey(user), jwtx.KeyCheckpoint).Result(); got != 3 {
		t.Fatalf("the view lost keys: %d of 3 left", got)
	}
}

func TestRedisRevocationIdentity(t *testing.T) {
	r := startRedis(t)
	admin, rc := r.client(t, "admin"), r.client(t, "revocation")
	jti, user := seedView(t, admin)
	ctx := t.Context()
	if err := admin.ACLLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("OKAppliesWithItsFunctions", func(t *testing.T) {
		pxat := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
		lib := r.Libraries["eventjwt_revocation"]
		keys := []any{jwtx.KeyCheckpoint, "revocation:rebuild", jwtx.BlacklistKey(uuid.NewString()), jwtx.UserVersionKey(user)}
		apply := append(append([]any{"fcall", lib + "_apply", len(keys)}, keys...), "normal", "7", "8", "0", "t", "1", pxat, "u", "4", pxat)
		if got, err := rc.Do(ctx, apply...).StringSlice(); err != nil || len(got) != 3 || got[0] != "ok" || got[2] != "8" {
			t.Fatalf("FCALL apply = %q, %v", got, err)
		}
		if got, err := rc.Do(ctx, "fcall", lib+"_begin_rebuild", 2, jwtx.KeyCheckpoint, "revocation:rebuild", "id", 60000).Int(); err != nil || got != 0 {
			t.Fatalf("FCALL begin_rebuild = %d, %v; want 0 (checkpoint present)", got, err)
		}
		if err := rc.SAdd(ctx, "revocation:rebuild", "id").Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := rc.Do(ctx, "fcall", lib+"_finish_rebuild", 2, jwtx.KeyCheckpoint, "revocation:rebuild", "id", "9").StringSlice(); err != nil || got[0] != "ok" {
			t.Fatalf("FCALL finish_rebuild = %q, %v", got, err)
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
			refusedCmd{"FCallOnAuthKey", []any{"fcall", r.Libraries["eventjwt_revocation"] + "_apply", 3, jwtx.KeyCheckpoint, "revocation:rebuild",
				"auth:ratelimit:ip:203.0.113.7", "normal", "0", "9", "0", "t", "1", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)}},
			refusedCmd{"FCallRateLimiterOnAuthKey", []any{"fcall", r.Libraries["eventjwt_ratelimit"] + "_refund", 1, "auth:ratelimit:ip:203.0.113.7"}},
			refusedCmd{"DelBlacklist", []any{"del", jwtx.BlacklistKey(jti)}},
			refusedCmd{"Persist", []any{"persist", jwtx.BlacklistKey(jti)}},
		))
	})
}

func TestRedisAuthIdentity(t *testing.T) {
	r := startRedis(t)
	admin, a := r.client(t, "admin"), r.client(t, "auth")
	jti, user := seedView(t, admin)
	ctx := t.Context()
	if err := admin.ACLLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	t.Run("OKValidatesAndRateLimits", func(t *testing.T) {
		st, err := jwtx.NewRedisStore(a).RevocationState(ctx, jwtx.RevocationQuery{JTI: jti, UserID: user})
		if err != nil || !st.TokenRevoked || !st.Initialized {
			t.Fatalf("state = %+v, %v", st, err)
		}
		if err := a.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		lib := r.Libraries["eventjwt_ratelimit"]
		key := "auth:ratelimit:ip:203.0.113.7"
		for range 2 {
			if err := a.Do(ctx, "fcall", lib+"_allow", 1, key, 5, 60000).Err(); err != nil {
				t.Fatalf("FCALL allow: %v", err)
			}
		}
		if err := a.Do(ctx, "fcall", lib+"_refund", 1, key).Err(); err != nil {
			t.Fatalf("FCALL refund: %v", err)
		}
		if log := aclLog(t, admin); len(log) > 0 {
			t.Fatalf("the allowed path was refused somewhere: %v", log)
		}
	})
	t.Run("Err", func(t *testing.T) {
		var cmds []refusedCmd // its own auth:* keys are the exception
		for _, c := range everyoneRefused() {
			if c.name != "DelAuthKey" && c.name != "SetOtherKey" {
				cmds = append(cmds, c)
			}
		}
		expectRefused(t, a, append(cmds,
			refusedCmd{"SetOtherKey", []any{"set", "orders:1", "x"}},
			refusedCmd{"SetBlacklist", []any{"set", jwtx.BlacklistKey(uuid.NewString()), "x"}},
			refusedCmd{"DelBlacklist", []any{"del", jwtx.BlacklistKey(jti)}},
			refusedCmd{"DelCheckpoint", []any{"del", jwtx.KeyCheckpoint}},
			refusedCmd{"IncrUserVersion", []any{"incr", jwtx.UserVersionKey(user)}},
			refusedCmd{"FCallApplyOnViewKeys", []any{"fcall", r.Libraries["eventjwt_revocation"] + "_apply", 3, jwtx.KeyCheckpoint, "revocation:rebuild",
				jwtx.BlacklistKey(uuid.NewString()), "normal", "0", "9", "0", "t", "1", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)}},
			refusedCmd{"FCallRateLimiterOnViewKey", []any{"fcall", r.Libraries["eventjwt_ratelimit"] + "_refund", 1, jwtx.BlacklistKey(jti)}},
			refusedCmd{"SetAuthKeyOutsideScripts", []any{"set", "auth:ratelimit:ip:203.0.113.7", "0"}},
			refusedCmd{"GetOtherAuthKey", []any{"get", "auth:session:1"}},
		))
	})
	if got, _ := admin.Exists(ctx, jwtx.BlacklistKey(jti), jwtx.UserVersionKey(user), jwtx.KeyCheckpoint).Result(); got != 3 {
		t.Fatalf("the view lost keys: %d of 3 left", got)
	}
}
