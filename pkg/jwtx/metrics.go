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
}

// newMetrics registers the collectors with reg, or returns nil when reg is
// nil. Collectors already registered by another Validator are shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtx_validations_total",
		Help: "Token validations by result: ok, invalid, revoked, unavailable.",
	}, []string{"result"})
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
	for _, r := range []string{"ok", "invalid", "revoked", "unavailable"} {
		results.WithLabelValues(r)
	}
	return &metrics{results: results, latency: latency}, nil
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

// result counts one validation outcome.
func (m *metrics) result(err error) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(resultLabel(err)).Inc()
}

// observeRevocation records the latency of one revocation check.
func (m *metrics) observeRevocation(d time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(d.Seconds())
}

func resultLabel(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRevocationUnavailable):
		return "unavailable"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	}
	return "invalid"
}
