package main

import (
	"strings"
	"testing"
)

func TestParseBench(t *testing.T) {
	in := `goos: linux
BenchmarkParse/EdDSA/jwtx-2   	   10000	    100 ns/op	  1072 B/op	  7 allocs/op
BenchmarkParse/EdDSA/jwtx-2   	   10000	    300 ns/op	  1072 B/op	  7 allocs/op
BenchmarkParse/EdDSA/jwtx-2   	   10000	    200 ns/op	  1072 B/op	  7 allocs/op
BenchmarkLogout/auth-logout-2 	       1	5143258876 ns/op	    284986 max-µs	       972.2 ops/s	     17236 p50-µs
--- FAIL: BenchmarkBroken
BenchmarkFailClosedHung/64goroutines/jwtx-coalesced-2    	redis: 2026/11/26 19:14:24 pool.go:770: redis: dial tcp: i/o timeout
redis: 2026/11/26 19:14:24 pool.go:770: redis: dial tcp: i/o timeout
     687	   1623181 ns/op	    100000 budget-µs	    104608 p99-µs
PASS
`
	r, err := parseBench(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.get("BenchmarkParse/EdDSA/jwtx", "ns/op"); !ok || v != 200 {
		t.Errorf("median ns/op = %v, %v; want 200", v, ok)
	}
	if v, ok := r.get("BenchmarkLogout/auth-logout", "p50-µs"); !ok || v != 17236 {
		t.Errorf("p50 = %v, %v; want 17236", v, ok)
	}
	if v, ok := r.get("BenchmarkFailClosedHung/64goroutines/jwtx-coalesced", "p99-µs"); !ok || v != 104608 {
		t.Errorf("figures after a log line cut the name line: p99 = %v, %v; want 104608", v, ok)
	}
	if _, ok := r.get("BenchmarkBroken", "ns/op"); ok {
		t.Error("a FAIL line was read as a result")
	}
}
