package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
)

type config struct {
	dir            string
	natsPort       int
	authAddr       string
	revocationAddr string
	// authMetricsAddr and revocationMetricsAddr are the services' /metrics
	// listeners, on loopback only.
	authMetricsAddr       string
	revocationMetricsAddr string
	authBin               string
	revocationBin         string
	redisURL              string
	redisMode             string
	issuer                string
	logLevel              string
}

func (c config) natsDir() string  { return filepath.Join(c.dir, "nats") }
func (c config) redisDir() string { return filepath.Join(c.dir, "redis") }
func (c config) dbPath() string   { return filepath.Join(c.dir, "auth.db") }
func (c config) keyFile() string  { return filepath.Join(c.dir, "signing-key.pem") }

func parseConfig(getenv func(string) string, args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.dir, "dir", ".run", "directory for the NATS store, Redis data, SQLite file and signing key")
	fs.IntVar(&c.natsPort, "nats-port", 4222, "port of the embedded nats-server (a free port is used when it is taken)")
	fs.StringVar(&c.authAddr, "auth-addr", ":8080", "AUTH_HTTP_ADDR of the auth service")
	fs.StringVar(&c.revocationAddr, "revocation-addr", ":8081", "REVOCATION_HTTP_ADDR of the revocation service")
	fs.StringVar(&c.authMetricsAddr, "auth-metrics-addr", "127.0.0.1:9080", "AUTH_METRICS_ADDR of the auth service (/metrics; loopback only)")
	fs.StringVar(&c.revocationMetricsAddr, "revocation-metrics-addr", "127.0.0.1:9081", "REVOCATION_METRICS_ADDR of the revocation service (/metrics; loopback only)")
	fs.StringVar(&c.authBin, "auth-bin", "bin/auth", "auth binary (make build)")
	fs.StringVar(&c.revocationBin, "revocation-bin", "bin/revocation", "revocation binary (make build)")
	fs.StringVar(&c.redisURL, "redis-url", getenv("REDIS_URL"), "use this Redis (env REDIS_URL); empty: start a local redis-server, or the in-process stand-in")
	fs.StringVar(&c.redisMode, "redis", "auto", "when REDIS_URL is empty: auto (redis-server if installed, else the stand-in), server, or standin")
	fs.StringVar(&c.logLevel, "log-level", "info", "LOG_LEVEL of the services")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(fs.Output(), "Usage: devstack [flags]\n\nStarts NATS (embedded), Redis, the revocation service and the auth service for development.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch c.redisMode {
	case "auto", "server", "standin":
	default:
		return c, fmt.Errorf("-redis: %q is not auto, server or standin", c.redisMode)
	}
	for _, m := range []struct{ flag, addr string }{
		{"-auth-metrics-addr", c.authMetricsAddr}, {"-revocation-metrics-addr", c.revocationMetricsAddr},
	} {
		if !isLoopback(m.addr) {
			return c, fmt.Errorf("%s: %q is not a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT): metrics stay off the network", m.flag, m.addr)
		}
	}
	c.issuer = "http://" + localAddr(c.authAddr)
	return c, nil
}

// isLoopback reports whether addr is host:port with a loopback host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localAddr turns ":8080" into "127.0.0.1:8080" for URLs printed to a person.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
