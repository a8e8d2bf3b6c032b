package main

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette colours the series of a plot.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// drawPlots writes the latency CDFs whose samples exist and the
// throughput-against-concurrency plot, and returns the files written.
func drawPlots(res results, samplesDir, outDir string) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, cp := range cdfPlots {
		ok, err := drawCDF(cp, samplesDir, filepath.Join(outDir, cp.File))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cp.File, err)
		}
		if ok {
			written = append(written, cp.File)
		}
	}
	const concurrencyFile = "redis-throughput-concurrency.png"
	ok, err := drawConcurrency(res, filepath.Join(outDir, concurrencyFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", concurrencyFile, err)
	}
	if ok {
		written = append(written, concurrencyFile)
	}
	return written, nil
}

// readSamples reads the samples testkit.Latencies wrote for a benchmark,
// sorted; nil when there are none.
func readSamples(dir, bench string) ([]float64, error) {
	f, err := os.Open(filepath.Join(dir, strings.ReplaceAll(bench, "/", "_")+".txt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var vs []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64)
		if err != nil {
			return nil, fmt.Errorf("sample %q: %w", sc.Text(), err)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, sc.Err()
}

// drawCDF plots the cumulative latency distribution of each series with
// samples, on a logarithmic latency axis; ok is false when none has any.
func drawCDF(cp cdfPlot, samplesDir, file string) (ok bool, err error) {
	p := plot.New()
	p.Title.Text = cp.Title
	p.X.Label.Text = "latency (µs, log scale)"
	p.Y.Label.Text = "percentile"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	for i, bench := range cp.Series {
		vs, err := readSamples(samplesDir, bench)
		if err != nil {
			return false, err
		}
		if len(vs) == 0 {
			continue
		}
		pts := make(plotter.XYs, 0, len(vs))
		for j, v := range vs {
			pts = append(pts, plotter.XY{X: max(v, 0.1), Y: 100 * float64(j+1) / float64(len(vs))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return false, err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", baseLabel(bench), len(vs)), line)
		ok = true
	}
	if !ok {
		return false, nil
	}
	p.Legend.Top, p.Legend.Left = false, true
	p.Legend.YOffs = vg.Points(-10)
	return true, p.Save(7*vg.Inch, 4*vg.Inch, file)
}

// drawConcurrency plots validations/s against goroutines for every
// variant of the concurrency benchmarks; ok is false when there are none.
func drawConcurrency(res results, file string) (bool, error) {
	series := map[string]plotter.XYs{}
	for name, m := range res {
		rest, found := strings.CutPrefix(name, concurrencyPrefix)
		if !found {
			continue
		}
		variant, gs, found := strings.Cut(rest, "/")
		n, err := strconv.Atoi(strings.TrimSuffix(gs, "goroutines"))
		if !found || err != nil {
			continue
		}
		if v, ok := m["validations/s"]; ok {
			series[variant] = append(series[variant], plotter.XY{X: float64(n), Y: v})
		}
	}
	if len(series) == 0 {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = "Redis mode: throughput against concurrency"
	p.X.Label.Text = "concurrent goroutines (log scale)"
	p.Y.Label.Text = "validations/s"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	names := make([]string, 0, len(series))
	for k := range series {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, name := range names {
		pts := series[name]
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return false, err
		}
		line.Color, points.Color = palette[i%len(palette)], palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	p.Legend.Top = true
	return true, p.Save(7*vg.Inch, 4*vg.Inch, file)
}
