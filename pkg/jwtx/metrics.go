package jwtx

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the validator's Prometheus collectors; a nil *metrics
// records nothing.
type metrics struct {
	results *prometheus.CounterVec
	latency prometheus.Histogram
	// counters are results' children by issuer name and resultLabels
	// index, resolved once: no label hashing per validation.
	counters map[string]*[len(resultLabels)]prometheus.Counter
}

// resultLabels are the values of the result label, in the order of
// resultIndex.
var resultLabels = [...]string{"ok", "invalid", "revoked", "unavailable"}

// newMetrics registers the collectors with reg, or returns nil when reg is
// nil. Collectors already registered by another Validator are shared.
func newMetrics(reg prometheus.Registerer, issuers []string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtx_validations_total",
		Help: "Token validations by result (ok, invalid, revoked, unavailable) and issuer (its configured name; unknown when the token names none).",
	}, []string{"result", "issuer"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "jwtx_revocation_check_duration_seconds",
		Help:    "Latency of one revocation check against the store.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	var err error
	if results, err = register(reg, results); err != nil {
		return nil, err
	}
	if latency, err = register(reg, latency); err != nil {
		return nil, err
	}
	m := &metrics{results: results, latency: latency, counters: map[string]*[len(resultLabels)]prometheus.Counter{}}
	for _, name := range append(issuers, unknownIssuer) {
		var cs [len(resultLabels)]prometheus.Counter
		for i, r := range resultLabels {
			cs[i] = results.WithLabelValues(r, name)
		}
		m.counters[name] = &cs
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("jwtx: register metrics: %w", err)
}

// unknownIssuer labels validations of tokens that name no configured
// issuer (or whose iss could not be read).
const unknownIssuer = "unknown"

// result counts one validation outcome of a token of issuer is (nil when
// it names none).
func (m *metrics) result(is *issuer, err error) {
	if m == nil {
		return
	}
	name := unknownIssuer
	if is != nil {
		name = is.name
	}
	m.counters[name][resultIndex(err)].Inc()
}

// observeRevocation records the latency of one revocation check.
func (m *metrics) observeRevocation(d time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(d.Seconds())
}

// resultIndex is the index in resultLabels of the outcome err.
func resultIndex(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrRevocationUnavailable):
		return 3
	case errors.Is(err, ErrRevoked):
		return 2
	}
	return 1
}
