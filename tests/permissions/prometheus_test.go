package permissions

import (
	"os/exec"
	"testing"
)

// TestPrometheusAlerts checks deploy/prometheus/alerts.yml with promtool
// and runs its unit tests (alerts_test.yml): each alert fires at its
// threshold and not before, among them RedisMemoryNearLimit, the warning
// before a Redis with maxmemory and noeviction refuses revocation writes.
func TestPrometheusAlerts(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (apt-get install prometheus): %v", err)
	}
	dir := deployPath(t, "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
