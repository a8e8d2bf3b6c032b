package httpapi

import (
	"context"
	"net/http"
	"strings"
)

// healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: every readiness check passes within its timeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var failed []string
	for _, c := range s.ready {
		ctx, cancel := context.WithTimeout(r.Context(), s.readyTO)
		err := c.Fn(ctx)
		cancel()
		if err != nil {
			s.logger.WarnContext(r.Context(), "not ready", "check", c.Name, "err", err)
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		s.fail(w, r, errorf(CodeNotReady, "unavailable: "+strings.Join(failed, ", ")))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
