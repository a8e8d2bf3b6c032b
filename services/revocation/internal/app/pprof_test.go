package app_test

import (
	"net/http"
	"testing"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

func TestPprofAddr(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		addr := testkit.FreeAddrOn(t, "127.0.0.1")
		svc := e.start(t, "REVOCATION_PPROF_ADDR="+addr)
		if code, _, body := request(t, http.MethodGet, "http://"+addr+"/debug/pprof/cmdline"); code != http.StatusOK {
			t.Fatalf("GET /debug/pprof/cmdline on REVOCATION_PPROF_ADDR = %d %s, want 200", code, body)
		}
		if code, _, _ := svc.doMetrics(t, http.MethodGet, "/debug/pprof/cmdline"); code != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/cmdline on the metrics listener = %d, want 404", code)
		}
	})
	t.Run("OffByDefault", func(t *testing.T) {
		e := newEnv(t)
		svc := e.start(t)
		for name, do := range map[string]func(*testing.T, string, string) (int, http.Header, []byte){"http": svc.do, "metrics": svc.doMetrics} {
			if code, _, _ := do(t, http.MethodGet, "/debug/pprof/cmdline"); code != http.StatusNotFound {
				t.Errorf("GET /debug/pprof/cmdline on the %s listener = %d, want 404", name, code)
			}
		}
	})
}
