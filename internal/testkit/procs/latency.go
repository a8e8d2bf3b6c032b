package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SamplesDirEnv names the environment variable that, when set, makes
// Latencies.Report also write every sample (in microseconds, one per line)
// to a file in that directory, for the plots `make bench` draws.
const SamplesDirEnv = "EVENTJWT_BENCH_SAMPLES"

// Latencies records durations from any number of goroutines and reports
// their distribution as benchmark metrics.
type Latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, d)
	l.mu.Unlock()
}

// Len returns the number of samples.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.samples)
}

// Percentile returns the p-th percentile (0 < p <= 100, nearest rank) of
// the samples, or 0 when there are none.
func (l *Latencies) Percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return percentile(l.sorted(), p)
}

// sorted sorts the samples in place and returns them; l.mu must be held.
func (l *Latencies) sorted() []time.Duration {
	slices.Sort(l.samples)
	return l.samples
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Report reports p50-µs, p99-µs and max-µs as metrics of b and, when
// SamplesDirEnv is set, writes the samples to <dir>/<b.Name()>.txt (with
// '/' replaced by '_').
func (l *Latencies) Report(b *testing.B) {
	b.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sorted()
	if len(s) == 0 {
		b.Fatal("testkit: no latency samples to report")
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(percentile(s, 50)), "p50-µs")
	b.ReportMetric(us(percentile(s, 99)), "p99-µs")
	b.ReportMetric(us(s[len(s)-1]), "max-µs")
	dir := os.Getenv(SamplesDirEnv)
	if dir == "" {
		return
	}
	var sb strings.Builder
	for _, d := range s {
		sb.WriteString(strconv.FormatFloat(us(d), 'f', 2, 64))
		sb.WriteByte('\n')
	}
	name := strings.ReplaceAll(b.Name(), "/", "_") + ".txt"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(fmt.Errorf("testkit: write samples: %w", err))
	}
}
