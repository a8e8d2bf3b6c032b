package revoke

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Revoker's collectors; a nil *metrics records nothing.
type metrics struct {
	publish *prometheus.HistogramVec
	wait    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "auth_revocation_publish_duration_seconds",
			Help:    "Time from publishing a revocation event to JetStream's PubAck, by event type and result (ok, error).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"type", "result"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "auth_revocation_wait_duration_seconds",
			Help:    "Time waiting for a stored revocation to be enforced, by event type and outcome (enforced, pending).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .2, .5, 1, 2, 3, 5, 10},
		}, []string{"type", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.publish, m.wait} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("revoke: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observePublish(typ string, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.publish.WithLabelValues(typ, result).Observe(d.Seconds())
}

func (m *metrics) observeWait(typ string, out Outcome, d time.Duration) {
	if m == nil {
		return
	}
	m.wait.WithLabelValues(typ, out.String()).Observe(d.Seconds())
}
