package chaos

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestGuard(t *testing.T) {
	tb := newHarnessTB(t.Context(), t.TempDir(), nil)
	t.Run("OK", func(t *testing.T) {
		if err := guard("nothing", func() { tb.Helper() }); err != nil {
			t.Fatalf("guard = %v, want nil", err)
		}
	})
	t.Run("Fatal", func(t *testing.T) {
		err := guard("step", func() { tb.Fatalf("broke %d", 1) })
		if !errors.Is(err, errHarnessFatal) || err.Error() != "step: testkit helper failed: broke 1" {
			t.Fatalf("guard = %v, want the Fatalf message wrapped in errHarnessFatal", err)
		}
		if !tb.Failed() {
			t.Fatal("Failed() = false after Fatalf")
		}
	})
	t.Run("NilTBMethod", func(t *testing.T) {
		if err := guard("step", func() { tb.Setenv("X", "1") }); err == nil {
			t.Fatal("guard = nil for a TB method the adapter lacks, want an error")
		}
	})
}

func TestHarnessTBCleanupAndTempDir(t *testing.T) {
	tb := newHarnessTB(t.Context(), t.TempDir(), nil)
	a, b := tb.TempDir(), tb.TempDir()
	if a == b {
		t.Fatalf("TempDir returned %s twice", a)
	}
	if st, err := os.Stat(a); err != nil || !st.IsDir() {
		t.Fatalf("TempDir %s: %v", a, err)
	}
	var order []int
	tb.Cleanup(func() { order = append(order, 1) })
	tb.Cleanup(func() { order = append(order, 2) })
	tb.close()
	tb.close()
	if !slices.Equal(order, []int{2, 1}) {
		t.Fatalf("cleanups ran %v, want [2 1] once", order)
	}
}

func TestByTopology(t *testing.T) {
	sentinel := topology{Redis: redisSentinel}
	all := []scenario{
		{Name: "a"}, {Name: "s1", Topo: sentinel}, {Name: "b"},
		{Name: "s2", Topo: sentinel, FullOnly: true}, {Name: "n", Topo: topology{NATSNodes: 3}, FullOnly: true},
	}
	names := func(groups [][]scenario) [][]string {
		var out [][]string
		for _, g := range groups {
			var n []string
			for _, sc := range g {
				n = append(n, sc.Name)
			}
			out = append(out, n)
		}
		return out
	}
	tests := []struct {
		name string
		cfg  Config
		want [][]string
	}{
		{"Short", Config{}, [][]string{{"a", "b"}, {"s1"}}},
		{"Full", Config{Full: true}, [][]string{{"a", "b"}, {"s1", "s2"}, {"n"}}},
		{"OnlyIncludesFullOnly", Config{Only: []string{"n", "b"}}, [][]string{{"b"}, {"n"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := names(byTopology(tc.cfg, all))
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("byTopology = %v, want %v", got, tc.want)
			}
		})
	}
}
