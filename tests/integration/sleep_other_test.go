//go:build !linux

package integration

import "time"

// sleepPrecise sleeps about d (time.Sleep: the runtime's granularity).
func sleepPrecise(d time.Duration) { time.Sleep(d) }
