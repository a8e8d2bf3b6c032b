package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) to its
// metrics by unit, each the median of the runs seen.
type results map[string]map[string]float64

// procsSuffix is the "-2" go test appends to a benchmark name.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads `go test -bench` output: lines of a name, an
// iteration count and value/unit pairs. Repeated runs (-count) are
// reduced to their median.
func parseBench(r io.Reader) (results, error) {
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	// pending is a benchmark whose name line was cut by a log line the
	// benchmark wrote; its figures follow on a line of their own.
	pending := ""
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
			if _, err := strconv.Atoi(field(f, 1)); err != nil {
				pending = f[0]
				continue
			}
		} else if _, err := strconv.Atoi(field(f, 0)); err == nil && pending != "" && len(f)%2 == 1 {
			f = append([]string{pending}, f...)
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		pending = ""
		name := procsSuffix.ReplaceAllString(f[0], "")
		if all[name] == nil {
			all[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			all[name][f[i+1]] = append(all[name][f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := results{}
	for name, units := range all {
		out[name] = map[string]float64{}
		for unit, vs := range units {
			out[name][unit] = median(vs)
		}
	}
	return out, nil
}

// field returns f[i], or "" past its end.
func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// get returns a metric, and whether it was measured.
func (r results) get(name, unit string) (float64, bool) {
	v, ok := r[name][unit]
	return v, ok
}
