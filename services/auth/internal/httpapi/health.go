package httpapi

import (
	"net/http"

	"github.com/eventjwt/eventjwt/internal/service"
)

// healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) { service.Health(w, r) }

// readyz: every readiness check passes within its timeout; a failure
// names the checks, not their errors (the API is public), which are
// logged.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) { s.readyHandler(w, r) }
