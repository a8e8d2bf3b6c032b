package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// callTimeout bounds one call of an open-loop load.
const callTimeout = 10 * time.Second

// loadResult is what one open-loop run measured.
type loadResult struct {
	// Lat holds the latency of every successful call, from its scheduled
	// start (start + i/rate).
	Lat testkit.Latencies
	// Late holds how late each call actually started (the worker's first
	// instruction) after its scheduled start: what the generator itself
	// adds to every latency above.
	Late testkit.Latencies
	// N is the number of calls, Failed how many returned an error, the
	// first of them FirstErr.
	N, Failed int
	FirstErr  error
	// Elapsed runs from the first scheduled start to the last answer.
	Elapsed time.Duration
}

// Achieved is the rate of calls completed per second of the run.
func (r *loadResult) Achieved() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// runOpenLoop starts fn n times at rate per second, call i at start +
// i/rate (absolute: a late generator starts the calls it owes at once and
// catches up, it never shifts the schedule), each on an idle worker
// goroutine or, when every worker is busy, on a new one, so that a stalled
// server gets as many calls in flight as the schedule owes it (an open
// loop, never waiting for an answer before the next call). Workers are
// reused: no goroutine, and no grown stack, per call.
func runOpenLoop(rate, n int, fn func(ctx context.Context, i int) error) *loadResult {
	r := &loadResult{N: n}
	type call struct {
		i  int
		at time.Time
	}
	var (
		mu sync.Mutex // guards r.Failed, r.FirstErr
		wg sync.WaitGroup
	)
	do := func(c call) {
		r.Late.Add(time.Since(c.at))
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := fn(ctx, c.i)
		cancel()
		if err != nil {
			mu.Lock()
			r.Failed++
			if r.FirstErr == nil {
				r.FirstErr = err
			}
			mu.Unlock()
			return
		}
		r.Lat.Add(time.Since(c.at))
	}
	idle := make(chan call) // unbuffered: a send succeeds only into a waiting worker
	worker := func(c call) {
		defer wg.Done()
		do(c)
		for c := range idle {
			do(c)
		}
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		c := call{i, start.Add(time.Duration(i) * interval)}
		sleepUntil(c.at)
		select {
		case idle <- c:
		default:
			wg.Add(1)
			go worker(c)
		}
		// Let the call run on this P now instead of waiting for another
		// thread to wake up and steal it while the pacer sleeps.
		runtime.Gosched()
	}
	close(idle)
	wg.Wait()
	r.Elapsed = time.Since(start)
	return r
}

// coarseMargin is how long before its deadline sleepUntil stops using
// the runtime's timers.
const coarseMargin = 2 * time.Millisecond

// sleepUntil returns at t, or at once when t has passed. Go's timers fire
// from the network poller with millisecond granularity (an idle runtime
// rounds a sub-millisecond wait up to 1 ms), which alone made a 1,000/s
// load start its calls ~0.5 ms late at the median; so the runtime's timer
// sleeps until coarseMargin before t and sleepPrecise (a nanosleep on
// Linux) the rest. Pacing to the schedule, not synchronisation.
func sleepUntil(t time.Time) {
	if d := time.Until(t) - coarseMargin; d > 0 {
		time.Sleep(d)
	}
	for d := time.Until(t); d > 0; d = time.Until(t) {
		sleepPrecise(d)
	}
}

// openLoop runs runOpenLoop and reports the latency distribution from the
// scheduled starts (p50-µs, p99-µs, max-µs), the generator's own lateness
// (start-late-p99-µs), the achieved rate (ops/s: calls completed per
// second of the run) beside the offered one (offered-ops/s), and the calls
// that failed (failed-calls, with the first error logged): a run with
// failures still reports, so that make bench renders its table with the
// failure in it (its row's target is 0), and the latencies are those of
// the calls that succeeded.
func openLoop(b *testing.B, rate, n int, fn func(ctx context.Context, i int) error) {
	b.Helper()
	r := runOpenLoop(rate, n, fn)
	if r.Failed > 0 {
		b.Logf("%d of %d calls failed; first: %v", r.Failed, n, r.FirstErr)
	}
	b.ReportMetric(float64(r.Failed), "failed-calls")
	r.Lat.Report(b)
	b.ReportMetric(float64(r.Late.Percentile(99))/float64(time.Microsecond), "start-late-p99-µs")
	b.ReportMetric(r.Achieved(), "ops/s")
	b.ReportMetric(float64(rate), "offered-ops/s")
}

// loadClient returns the HTTP client of the load benchmarks: keep-alive
// connections, and as many kept idle per host as a stall can open, so
// that after one the next calls reuse them instead of dialing (the
// default keeps 2 per host).
func loadClient() *http.Client {
	return &http.Client{Timeout: callTimeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     time.Minute,
	}}
}

// warmConns opens about k keep-alive connections of client to url's host
// before a load (k concurrent GETs of url, which must answer 2xx), so
// that the load's first calls do not pay for dialing.
func warmConns(tb testing.TB, client *http.Client, url string, k int) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for range k {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				errs <- fmt.Errorf("GET %s answered %d", url, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("warming connections: %v", err)
	}
}

// TestRunOpenLoop: every call runs once; a call that waits for a later
// one does not hold it up (open loop); failures of different error types
// are counted, the first kept; the latencies hold the successful calls.
func TestRunOpenLoop(t *testing.T) {
	const n = 200
	var (
		mu    sync.Mutex
		calls = map[int]int{}
	)
	eleventh := make(chan struct{})
	errA, errB := errors.New("a"), fmt.Errorf("b: %w", context.Canceled)
	r := runOpenLoop(1000, n, func(ctx context.Context, i int) error {
		mu.Lock()
		calls[i]++
		mu.Unlock()
		switch i {
		case 10: // answers only once call 11 has started
			select {
			case <-eleventh:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
				return errors.New("call 11 did not start while call 10 was in flight: closed loop")
			}
		case 11:
			close(eleventh)
		case 50:
			return errA
		case 60:
			return errB
		}
		return nil
	})
	if len(calls) != n {
		t.Fatalf("%d distinct calls, want %d", len(calls), n)
	}
	for i, c := range calls {
		if c != 1 {
			t.Errorf("call %d ran %d times", i, c)
		}
	}
	if r.Failed != 2 || (!errors.Is(r.FirstErr, errA) && !errors.Is(r.FirstErr, errB)) {
		t.Fatalf("Failed %d, FirstErr %v; want 2, a or b", r.Failed, r.FirstErr)
	}
	if got := r.Lat.Len(); got != n-2 {
		t.Errorf("%d latencies, want %d", got, n-2)
	}
	if got := r.Late.Len(); got != n {
		t.Errorf("%d start latenesses, want %d", got, n)
	}
	if r.Elapsed < (n-1)*time.Millisecond || r.Achieved() <= 0 {
		t.Errorf("elapsed %v (achieved %.0f/s): shorter than the schedule", r.Elapsed, r.Achieved())
	}
}

// TestSleepUntil: never returns before its deadline.
func TestSleepUntil(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 0, 100 * time.Microsecond, 3 * time.Millisecond} {
		at := time.Now().Add(d)
		sleepUntil(at)
		if now := time.Now(); now.Before(at) {
			t.Errorf("sleepUntil(now%+v) returned %v early", d, at.Sub(now))
		}
	}
}
