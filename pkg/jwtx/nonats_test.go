package jwtx_test

import (
	"os/exec"
	"strings"
	"testing"
)

// pkg/jwtx is what every microservice imports: neither its packages nor
// its module graph may bring NATS (the near-cache, which needs it, is its
// own module, github.com/eventjwt/eventjwt/pkg/jwtx/nearcache).
func TestCorePackageHasNoNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats-io") || strings.HasSuffix(dep, "/pkg/events") || strings.Contains(dep, "/nearcache") {
			t.Fatalf("pkg/jwtx depends on %s: the core must stay free of NATS", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/redis/go-redis/v9") {
		t.Fatalf("go list printed no dependency we know of:\n%s", out)
	}
}
