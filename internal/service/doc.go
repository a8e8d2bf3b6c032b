// Package service is the chassis every eventjwt service stands on
// (services/auth, services/revocation, examples/validator), so that each
// declares only its own settings and wiring:
//
//   - Settings: one env+flag parser (flag > environment > default, a bare
//     -flag for booleans, errors wrapping ErrUsage that name the variable)
//     with one --help style, and the shared settings (NATS_URL, REDIS_URL,
//     LOG_LEVEL, LOG_FORMAT, NATS_INBOX_PREFIX);
//
//   - NewLogger: the slog logger of a service;
//
//   - natsconn.Connect (a subpackage, so that a service without NATS does
//     not depend on its client): one start-up policy, retrying with backoff
//     in the background until the server answers, reconnecting forever,
//     readiness (natsconn.Ready) false meanwhile;
//
//   - NewHTTPServer: the hardened http.Server (header, read, write and
//     idle timeouts, header size limit);
//
//   - Health, Ready: /healthz and /readyz with named checks;
//
//   - WriteJSON, WriteError: the one JSON answer and {"error","message"}
//     error body.
//
//     var cfg Config
//     err := service.Settings{Name: "revocation", List: append(cfg.Common.Log(), ...)}.Parse(os.Getenv, os.Args[1:], os.Stderr)
//     log := service.NewLogger(os.Stderr, "revocation", cfg.LogLevel, cfg.LogFormat)
//     nc, err := natsconn.Connect(natsconn.Config{URL: cfg.NATSURL, Name: "revocation", Logger: log})
//     srv := service.NewHTTPServer(handler, service.HTTPLimits{}, log)
package service
