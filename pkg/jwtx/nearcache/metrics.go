package nearcache

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Cache's Prometheus collectors. They are always created;
// they are registered only when Config.Metrics is set.
type metrics struct {
	gaps       prometheus.Counter
	resyncs    prometheus.Counter
	invalid    prometheus.Counter
	fallbacks  prometheus.Counter
	failClosed prometheus.Counter
	probeFails prometheus.Counter
	evicted    prometheus.Counter
	replayed   prometheus.Counter
}

// newMetrics creates the collectors and registers them with reg (when
// not nil). Gauges read the Cache when scraped. Two Caches registering with
// one registerer is an error: their gauges would collide.
func newMetrics(c *Cache, reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "jwtx_nearcache_" + name, Help: help})
	}
	m := &metrics{
		gaps:       counter("gaps_total", "Jumps in the stream sequence while following (messages deleted before they were applied); each forces a full replay."),
		resyncs:    counter("resyncs_total", "Full replays after the first: gaps, stream recreated, consumer stuck or failed."),
		invalid:    counter("invalid_events_total", "Events dropped because they could not be decoded or validated."),
		fallbacks:  counter("fallbacks_total", "Revocation checks answered by the fallback store because the view was stale or not ready."),
		failClosed: counter("fail_closed_total", "Revocation checks refused because the view was stale or not ready and there is no fallback."),
		probeFails: counter("probe_failures_total", "Freshness probes (stream info requests) that failed."),
		evicted:    counter("evicted_total", "Entries removed by the sweep because their expiry passed."),
		replayed:   counter("replayed_messages_total", "Messages read by replays before they caught up with the stream (the cost of starts and resyncs; bounded by ReplayWindow)."),
	}
	if reg == nil {
		return m, nil
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtx_nearcache_applied_sequence",
			Help: "Last stream sequence applied to the in-memory view.",
		}, func() float64 { return float64(c.applied.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtx_nearcache_staleness_seconds",
			Help: "Seconds since the view was last proven fresh (+Inf before the first time or during a replay). Local answers stop above the configured bound.",
		}, func() float64 {
			s, ok := c.Staleness()
			if !ok {
				return math.Inf(1)
			}
			return s.Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtx_nearcache_ready",
			Help: "1 once the first replay caught up with the stream.",
		}, func() float64 {
			if c.isReady() {
				return 1
			}
			return 0
		}),
		newEntriesCollector(c),
	}
	for _, col := range append(gauges, m.gaps, m.resyncs, m.invalid, m.fallbacks, m.failClosed, m.probeFails, m.evicted, m.replayed) {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("nearcache: register metrics (one Cache per registerer): %w", err)
		}
	}
	return m, nil
}

// entriesCollector reports jwtx_nearcache_entries{kind="token"|"session"|"user"}.
type entriesCollector struct {
	c    *Cache
	desc *prometheus.Desc
}

func newEntriesCollector(c *Cache) *entriesCollector {
	return &entriesCollector{c: c, desc: prometheus.NewDesc("jwtx_nearcache_entries",
		"Live entries in the view: revoked token ids (kind=token), revoked sessions (kind=session) and user versions (kind=user).", []string{"kind"}, nil)}
}

// Describe implements prometheus.Collector.
func (e *entriesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

// Collect implements prometheus.Collector.
func (e *entriesCollector) Collect(ch chan<- prometheus.Metric) {
	tokens, sessions, users := e.c.Entries()
	ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(tokens), "token")
	ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(sessions), "session")
	ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(users), "user")
}
