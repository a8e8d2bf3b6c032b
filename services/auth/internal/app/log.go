package app

import (
	"context"
	"fmt"
	"log/slog"
)

// RedisLogger adapts a *slog.Logger to go-redis's process-wide logger
// (redis.SetLogger), at DEBUG: its pool reports every failed dial during a
// Redis outage, which readiness and validation errors already tell.
type RedisLogger struct{ Logger *slog.Logger }

// Printf logs one go-redis message.
func (r RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.Logger.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}
