package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	samples := filepath.Join(in, "samples")
	if err := os.MkdirAll(samples, 0o755); err != nil {
		t.Fatal(err)
	}
	bench := `BenchmarkVerifiedCache/EdDSA/golang-jwt-2  100  80000 ns/op  3432 B/op  56 allocs/op
BenchmarkVerifiedCache/EdDSA/jwtx-cached-2  100  400 ns/op  176 B/op  2 allocs/op
BenchmarkLogout/auth-logout-2  1  5000000000 ns/op  12000 p99-µs  5000 p50-µs  20000 max-µs
BenchmarkLogout/highest-rate-2  1  25000000000 ns/op  1500 logouts/s
BenchmarkRedisConcurrency/naive/1goroutines-2  100  100 ns/op  5000 validations/s
BenchmarkRedisConcurrency/naive/64goroutines-2  100  100 ns/op  9000 validations/s
`
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte(bench), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(samples, "BenchmarkLogout_auth-logout.txt"), []byte("100\n2000.5\n300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "PERF.md")
	if err := os.WriteFile(doc, []byte("# Perf\n\nprose\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nmore prose\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	plots := filepath.Join(dir, "perf")
	if err := run([]string{"-in", in, "-doc", doc, "-plots", plots, "-machine", "Machine: test"}, &out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(got)
	for _, want := range []string{
		"prose", "more prose", "Machine: test",
		"| repeat token, verified-token cache, EdDSA | 400 ns | 80.0 µs (golang-jwt) | 0.01× | ≤ 0.2× (≥ 5× faster) than golang-jwt parse alone | yes |",
		"| logout (204, enforced) at 1,000/s, sync always, p99 | 12.00 ms | not measured | — | p99 ≤ 10 ms | no |",
		"| highest logout rate with p99 ≤ 10 ms (204, enforced), one NATS server, sync always, rates stepped 250-2,000/s | 1,500 logouts/s | — | — | ≥ 1,000/s | yes |",
		"| burst ingest into Redis, 100k events | not measured |",
		"](perf/logout.png)", "](perf/redis-throughput-concurrency.png)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("document lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\nold\n") {
		t.Error("the old generated part was not replaced")
	}
	for _, f := range []string{"logout.png", "redis-throughput-concurrency.png"} {
		if st, err := os.Stat(filepath.Join(plots, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s not written: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(plots, "fail-closed.png")); err == nil {
		t.Error("a plot without samples was drawn")
	}
	if !strings.Contains(out.String(), "target(s) missed or not measured") {
		t.Errorf("stdout does not say targets were missed:\n%s", out.String())
	}
}
