package app

import "time"

// SetReadHeaderTimeout shortens the HTTP server's ReadHeaderTimeout; call
// it before Open.
func SetReadHeaderTimeout(m *Main, d time.Duration) { m.readHeaderTimeout = d }
