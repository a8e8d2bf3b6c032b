package service

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// PprofWriteTimeout bounds writing a profile: longer than
// DefaultWriteTimeout, so that /debug/pprof/profile?seconds=60 (or trace)
// can finish; net/http/pprof refuses a duration beyond it.
const PprofWriteTimeout = 2 * time.Minute

// PprofHandler serves net/http/pprof under /debug/pprof/ on its own mux,
// never on http.DefaultServeMux.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// PprofListeners returns the listener serving PprofHandler on addr, for
// the variable env (AUTH_PPROF_ADDR), or none when addr is empty:
// profiling is off unless asked for. Append them to Listen's listeners,
// after those whose index the service reads:
//
//	ls := append([]service.Listener{api, metrics}, service.PprofListeners("X_PPROF_ADDR", cfg.PprofAddr, log)...)
//	srv, err := service.Listen(ctx, ls...)
func PprofListeners(env, addr string, log *slog.Logger) []Listener {
	if addr == "" {
		return nil
	}
	return []Listener{{Env: env, Addr: addr, Server: NewHTTPServer(PprofHandler(), HTTPLimits{WriteTimeout: PprofWriteTimeout}, log)}}
}

// PprofSetting is the setting env (AUTH_PPROF_ADDR) of the pprof
// listener's address, stored in addr; empty (the default) is off.
func PprofSetting(env string, addr *string) Setting {
	return Setting{Env: env, Help: "listen address of net/http/pprof (/debug/pprof/); empty: off. It exposes the command line and memory profiles: keep it on loopback (127.0.0.1:6060)", Apply: String(addr, false)}
}
