package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Full      bool
	Machine   string
	Scenarios []*Stats
	Elapsed   time.Duration
	LogDir    string // kept when a guarantee broke
}

// Violations counts broken guarantees over all scenarios.
func (r *Report) Violations() int {
	n := 0
	for _, s := range r.Scenarios {
		n += s.ViolationCount()
	}
	return n
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// Summary is one line about a scenario.
func (s *Stats) Summary() string {
	return fmt.Sprintf("acked %d (202: %d), lost %d, revoked accepted %d, validations %d, fail-closed %d, 5xx %d, violations %d, %s",
		s.Acked.Load(), s.Acked202.Load(), s.Lost.Load(), s.RevokedAccepted.Load(), s.Validations.Load(),
		s.FailClosed.Load(), s.FiveXX.Load(), s.ViolationCount(), s.Elapsed.Round(time.Millisecond))
}

// Table renders the per-scenario figures as a Markdown table, followed by
// notes and violations.
func (r *Report) Table() string {
	var b strings.Builder
	b.WriteString("| scenario | revocations acked (202) | events published directly | lost | revoked tokens accepted | validations | fail-closed 503 | 5xx | live tokens refused | propagation p50 / p99 / max | time to fail closed | reject p99 | violations |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	var acked, lost, accepted, vals, closed, fivexx, pub int64
	for _, s := range r.Scenarios {
		p50, p99, mx := s.Propagation()
		rp99, n := s.RejectP99()
		reject := "-"
		if n > 0 {
			reject = ms(rp99)
		}
		ttfc := "-"
		if s.TimeToFailClosed > 0 {
			ttfc = ms(s.TimeToFailClosed)
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %d | %d | %d | %d | %d | %d | %d | %s / %s / %s | %s | %s | %d |\n",
			s.Name, s.Acked.Load(), s.Acked202.Load(), s.Published.Load(), s.Lost.Load(), s.RevokedAccepted.Load(),
			s.Validations.Load(), s.FailClosed.Load(), s.FiveXX.Load(), s.FalseReject.Load(),
			ms(p50), ms(p99), ms(mx), ttfc, reject, s.ViolationCount())
		acked += s.Acked.Load()
		lost += s.Lost.Load()
		accepted += s.RevokedAccepted.Load()
		vals += s.Validations.Load()
		closed += s.FailClosed.Load()
		fivexx += s.FiveXX.Load()
		pub += s.Published.Load()
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %d | %d | %d | | | | | %d |\n\n", acked, pub, lost, accepted, vals, closed, fivexx, r.Violations())
	if r.Full {
		fmt.Fprintf(&b, "Targets of the full run: >= 10,000 revocations acknowledged (%d: %s), >= 1,000,000 validations (%d: %s).\n\n",
			acked, met(acked >= 10_000), vals, met(vals >= 1_000_000))
	}
	for _, s := range r.Scenarios {
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "- %s: %s\n", s.Name, n)
		}
	}
	for _, s := range r.Scenarios {
		for _, v := range s.Violations {
			fmt.Fprintf(&b, "- **VIOLATION** %s: %s\n", s.Name, v)
		}
	}
	if r.LogDir != "" {
		fmt.Fprintf(&b, "\nprocess logs: %s\n", r.LogDir)
	}
	fmt.Fprintf(&b, "\n%s; run took %s.\n", r.Machine, r.Elapsed.Round(time.Second))
	return b.String()
}

// machine describes the host and the versions the figures were taken with.
func machine(ctx context.Context, bin string) string {
	cpu, mem := "?", "?"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		_ = f.Close()
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0]); len(f) >= 2 {
			mem = f[1] + " kB"
		}
	}
	out := func(name string, args ...string) string {
		o, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(o))
	}
	redisV := out("redis-server", "--version")
	if f := strings.Fields(redisV); len(f) >= 3 {
		redisV = strings.TrimPrefix(f[2], "v=")
	}
	return fmt.Sprintf("machine: %d CPUs (%s), %s memory, %s/%s; go %s, redis-server %s, nats-server %s (embedded module, sync_interval always)",
		runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, strings.TrimPrefix(runtime.Version(), "go"),
		redisV, out(filepath.Join(bin, "natsd"), "-version"))
}

// WriteDoc replaces the figures section of docs/RELIABILITY.md (between
// the markers) with the report.
func (r *Report) WriteDoc(path string) error {
	const begin, end = "<!-- chaos:begin -->", "<!-- chaos:end -->"
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(raw)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %s / %s not found", path, begin, end)
	}
	figures := fmt.Sprintf("%s\n\nLast `make chaos` run, %s:\n\n%s%s", begin, time.Now().UTC().Format("2006-01-02"), r.Table(), end)
	return os.WriteFile(path, []byte(doc[:i]+figures+doc[j+len(end):]), 0o644)
}
