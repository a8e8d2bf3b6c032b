package jwtx_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// pkg/jwtx is what every microservice imports: neither its packages nor
// its module graph may bring NATS (the near-cache, which needs it, is its
// own module, github.com/eventjwt/eventjwt/pkg/jwtx/nearcache) or gRPC (the
// interceptors are their own module, github.com/eventjwt/eventjwt/pkg/jwtxgrpc).
func TestCorePackageHasNoNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats-io") || strings.HasSuffix(dep, "/pkg/events") || strings.Contains(dep, "/nearcache") ||
			strings.HasPrefix(dep, "google.golang.org/grpc") || strings.Contains(dep, "/jwtxgrpc") {
			t.Fatalf("pkg/jwtx depends on %s: the core must stay free of NATS and gRPC", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/redis/go-redis/v9") {
		t.Fatalf("go list printed no dependency we know of:\n%s", out)
	}
}

// TestCoreModuleHasNoGRPC checks the module graph of pkg/jwtx alone (not
// the workspace, where pkg/jwtxgrpc requires gRPC) has no gRPC module.
func TestCoreModuleHasNoGRPC(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if mod, _, _ := strings.Cut(line, " "); mod == "google.golang.org/grpc" || strings.HasSuffix(mod, "/jwtxgrpc") {
			t.Fatalf("the module graph of pkg/jwtx has %s", line)
		}
	}
	if !strings.Contains(string(out), "github.com/redis/go-redis/v9") {
		t.Fatalf("go list printed no module we know of:\n%s", out)
	}
}
