package redisfn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/redisfn"
	"github.com/eventjwt/eventjwt/internal/testkit"
)

var lib = redisfn.New("eventjwt_test", `
local function double(n) return 2 * tonumber(n) end
`, map[string]string{
	"incr_by_double": `return redis.call('INCRBY', KEYS[1], double(ARGV[1]))`,
})

// restricted returns a client of a user who may FCALL and touch keys
// but not run EVAL or FUNCTION LOAD: the deploy/ ACLs' shape.
func restricted(t *testing.T, rd *testkit.Redis, admin *redis.Client) *redis.Client {
	t.Helper()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "svc", "on", ">svc-pass", "resetchannels", "-@all", "+fcall", "+incrby", "+get", "~*").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: rd.Addr, Username: "svc", Password: "svc-pass"})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCallLoadsLibrary(t *testing.T) {
	t.Parallel()
	rdb := testkit.StartRedis(t).Client(t)
	ctx := context.Background()
	for want := int64(6); want <= 12; want += 6 {
		got, err := lib.Call(ctx, rdb, "incr_by_double", []string{"k"}, 3).Int64()
		if err != nil || got != want {
			t.Fatalf("Call = %d, %v; want %d", got, err, want)
		}
	}
	libs, err := rdb.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: lib.Name()}).Result()
	if err != nil || len(libs) != 1 {
		t.Fatalf("FUNCTION LIST %s = %v, %v; want the library", lib.Name(), libs, err)
	}
	// FCALL, never EVAL.
	stats, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "cmdstat_fcall:") || strings.Contains(stats, "cmdstat_eval") {
		t.Fatalf("commandstats show no FCALL or an EVAL:\n%s", stats)
	}
}

func TestRestrictedUser(t *testing.T) {
	t.Parallel()
	rd := testkit.StartRedis(t)
	admin := rd.Client(t)
	svc := restricted(t, rd, admin)
	ctx := context.Background()

	_, err := lib.Call(ctx, svc, "incr_by_double", []string{"k"}, 1).Result()
	if !errors.Is(err, redisfn.ErrNotLoaded) || !strings.Contains(err.Error(), "deploy/redis/functions/eventjwt_test.lua") {
		t.Fatalf("Call before the library is loaded = %v; want ErrNotLoaded naming the file to load", err)
	}
	if err := svc.Eval(ctx, "return 1", nil).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("EVAL as the restricted user = %v, want NOPERM", err)
	}
	if err := admin.FunctionLoad(ctx, lib.Code()).Err(); err != nil {
		t.Fatalf("admin FUNCTION LOAD: %v", err)
	}
	if got, err := lib.Call(ctx, svc, "incr_by_double", []string{"k"}, 1).Int64(); err != nil || got != 2 {
		t.Fatalf("Call after the admin loaded the library = %d, %v", got, err)
	}
	if err := lib.Load(ctx, admin); err != nil {
		t.Fatalf("Load of a library already there: %v", err)
	}
}

func TestNameFollowsCode(t *testing.T) {
	a := redisfn.New("p", "", map[string]string{"f": "return 1"})
	b := redisfn.New("p", "", map[string]string{"f": "return 2"})
	c := redisfn.New("p", "", map[string]string{"f": "return 1"})
	if a.Name() == b.Name() || a.Name() != c.Name() || !strings.HasPrefix(a.Name(), "p_") {
		t.Fatalf("names %s %s %s: want one per code", a.Name(), b.Name(), c.Name())
	}
	if !strings.HasPrefix(a.Code(), "#!lua name="+a.Name()+"\n") {
		t.Fatalf("code does not start with the shebang: %q", a.Code())
	}
}

func TestUnknownFunction(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if err := lib.Call(context.Background(), rdb, "nope", nil).Err(); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Call of an unknown function = %v", err)
	}
}

// TestServerWithoutFunctions: the in-process stand-in of make run
// (miniredis) has no FCALL; the same code runs through EVAL.
func TestServerWithoutFunctions(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	for want := int64(4); want <= 8; want += 4 {
		got, err := lib.Call(context.Background(), rdb, "incr_by_double", []string{"k"}, 2).Int64()
		if err != nil || got != want {
			t.Fatalf("Call on miniredis = %d, %v; want %d", got, err, want)
		}
	}
}
