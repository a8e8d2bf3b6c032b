package app_test

import (
	"net/http"
	"testing"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// AUTH_PPROF_ADDR serves net/http/pprof on a listener of its own, and
// nowhere else: not on the metrics listener.
func TestPprofAddr(t *testing.T) {
	addr := testkit.FreeAddrOn(t, "127.0.0.1")
	s := startStack(t, map[string]string{"AUTH_PPROF_ADDR": addr})
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"http://" + addr + "/debug/pprof/cmdline", http.StatusOK},
		{s.metricsBase + "/debug/pprof/cmdline", http.StatusNotFound},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
}
