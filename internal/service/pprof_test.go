package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
)

func TestPprofListeners(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		ctx := context.Background()
		srv, err := service.Listen(ctx, service.PprofListeners("X_PPROF_ADDR", "127.0.0.1:0", nil)...)
		if err != nil {
			t.Fatal(err)
		}
		srv.Serve()
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				t.Error(err)
			}
		})
		for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr(0)+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
			}
		}
	})
	t.Run("OffWhenEmpty", func(t *testing.T) {
		if ls := service.PprofListeners("X_PPROF_ADDR", "", nil); len(ls) != 0 {
			t.Errorf("PprofListeners(\"\") = %d listeners, want none", len(ls))
		}
	})
}
