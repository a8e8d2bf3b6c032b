package permissions

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// libraryName matches the first line of a Redis Functions library.
var libraryName = regexp.MustCompile(`^#!lua name=(\w+)\n`)

// loadFunctions loads every library of deploy/redis/functions as admin,
// the operator's one step before starting the services (redis.conf says
// how), and returns the library name of each file's prefix
// ("eventjwt_revocation" -> "eventjwt_revocation_<digest>").
func loadFunctions(tb testing.TB, r *redisServer) map[string]string {
	tb.Helper()
	files, err := filepath.Glob(deployPath(tb, "redis", "functions", "*.lua"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no libraries in deploy/redis/functions: %v", err)
	}
	admin := r.client(tb, "admin")
	names := map[string]string{}
	for _, f := range files {
		code, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		m := libraryName.FindSubmatch(code)
		if m == nil {
			tb.Fatalf("%s does not start with #!lua name=", f)
		}
		if err := admin.FunctionLoad(context.Background(), string(code)).Err(); err != nil {
			tb.Fatalf("FUNCTION LOAD %s as admin: %v", f, err)
		}
		names[filepath.Base(f[:len(f)-len(".lua")])] = string(m[1])
	}
	return names
}
