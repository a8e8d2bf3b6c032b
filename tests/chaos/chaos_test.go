package chaos_test

import (
	"path/filepath"
	"testing"

	"github.com/eventjwt/eventjwt/tests/chaos"
)

// TestChaosShort runs every fault scenario briefly against the real
// binaries, a real redis-server and a real nats-server.
func TestChaosShort(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfg := chaos.Short(root)
	cfg.Dir = t.TempDir()
	rep, err := chaos.Run(t.Context(), cfg)
	if rep != nil {
		t.Log("\n" + rep.Table())
	}
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Violations(); n > 0 {
		t.Fatalf("%d guarantee violations (see the table above)", n)
	}
}
