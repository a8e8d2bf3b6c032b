package integration

import (
	"syscall"
	"time"
)

// sleepPrecise sleeps about d with nanosleep(2), whose wake-up is late by
// the kernel's timer slack (50 µs by default), not by the runtime's
// millisecond. The goroutine holds its P in the system call for at most
// coarseMargin.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil) // EINTR: the caller's loop sleeps the rest
}
