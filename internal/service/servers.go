package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Listener is one HTTP listener of a service: the API, the health
// endpoints, /metrics.
type Listener struct {
	// Env names the address's variable in errors (AUTH_HTTP_ADDR).
	Env string
	// Addr is where to listen; "127.0.0.1:0" picks a free port (tests).
	Addr string
	// Server serves it (NewHTTPServer).
	Server *http.Server
}

// Servers are the HTTP listeners of one service, bound together, served
// in the background and shut down together.
//
//	srv, err := service.Listen(ctx, service.Listener{Env: "X_HTTP_ADDR", Addr: cfg.HTTPAddr, Server: api}, ...)
//	errc := srv.Serve()          // an error when a server stops on its own
//	addr := srv.Addr(0)          // the bound address, e.g. for :0
//	err = srv.Shutdown(ctx)      // graceful: in-flight requests finish
type Servers struct {
	ls   []Listener
	lns  []net.Listener
	errc chan error
}

// Listen binds every listener, or none: on error the ones bound are
// closed and the error names the variable.
func Listen(ctx context.Context, ls ...Listener) (*Servers, error) {
	s := &Servers{ls: ls, errc: make(chan error, len(ls))}
	var lc net.ListenConfig
	for _, l := range ls {
		ln, err := lc.Listen(ctx, "tcp", l.Addr)
		if err != nil {
			for _, ln := range s.lns {
				_ = ln.Close()
			}
			return nil, fmt.Errorf("listen on %s %s: %w", l.Env, l.Addr, err)
		}
		s.lns = append(s.lns, ln)
	}
	return s, nil
}

// Addr returns the bound address of listener i (in Listen's order).
func (s *Servers) Addr(i int) string { return s.lns[i].Addr().String() }

// Serve serves every listener in the background. The channel receives an
// error, naming the variable, for each server that stops on its own (not
// by Shutdown).
func (s *Servers) Serve() <-chan error {
	for i, l := range s.ls {
		go func() {
			if err := l.Server.Serve(s.lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errc <- fmt.Errorf("serve %s: %w", l.Env, err)
			}
		}()
	}
	return s.errc
}

// Shutdown stops every server gracefully (new connections refused,
// requests in flight finish until ctx ends), also those never served.
func (s *Servers) Shutdown(ctx context.Context) error {
	var errs []error
	for i, l := range s.ls {
		if err := l.Server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("shut down %s: %w", l.Env, err))
		}
		_ = s.lns[i].Close() // when Serve never ran
	}
	return errors.Join(errs...)
}
