package ingest

import (
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Values of the reason label of revocation_events_invalid_total.
const (
	reasonInvalid           = "invalid"
	reasonUnsupportedSchema = "unsupported_schema"
	reasonSubjectMismatch   = "subject_mismatch"
)

// metrics are the service's Prometheus metrics, registered on the
// Registerer given to New.
type metrics struct {
	invalid           *prometheus.CounterVec
	redisErrors       prometheus.Counter
	rebuilds          prometheus.Counter
	rebuildDuration   prometheus.Histogram
	rebuildInProgress prometheus.Gauge
	rebuildSkipped    prometheus.Gauge
	checkpoint        prometheus.Gauge
	applied           *prometheus.CounterVec
	expired           prometheus.Counter
	clamped           prometheus.Counter
	batchSize         prometheus.Histogram
	applyDuration     prometheus.Histogram
	pending           prometheus.Gauge
	lastEventAge      prometheus.Gauge
	heartbeatAge      prometheus.Gauge
	unreplicated      prometheus.Counter
	active            prometheus.Gauge
	takeovers         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		invalid: f.NewCounterVec(prometheus.CounterOpts{
			Name: "revocation_events_invalid_total",
			Help: "Messages terminated because they can never be processed, by reason.",
		}, []string{"reason"}),
		redisErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_redis_errors_total",
			Help: "Failed Redis calls (each is retried).",
		}),
		rebuilds: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_rebuilds_total",
			Help: "Rebuilds of Redis from the stream started because the checkpoint was missing.",
		}),
		rebuildDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "revocation_rebuild_duration_seconds",
			Help:    "Duration of completed rebuilds.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		rebuildInProgress: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_rebuild_in_progress",
			Help: "1 while Redis is being rebuilt from the stream.",
		}),
		rebuildSkipped: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_rebuild_skipped_messages",
			Help: "Stream messages the last rebuild did not replay: stored before now - (REVOCATION_MAX_TOKEN_TTL + REVOCATION_LEEWAY + 5m), so every key they wrote has expired.",
		}),
		checkpoint: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_checkpoint",
			Help: "Last checkpoint (stream sequence) written to Redis.",
		}),
		applied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "revocation_events_applied_total",
			Help: "Events written to Redis, by event type.",
		}, []string{"type"}),
		clamped: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_events_clamped_total",
			Help: "Events whose expiry was cut to occurred_at + REVOCATION_MAX_TOKEN_TTL + leeway: an issuer whose tokens outlive REVOCATION_MAX_TOKEN_TTL (raise it) or a forged expires_at.",
		}),
		expired: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_events_expired_total",
			Help: "Events skipped because what they revoke has already expired.",
		}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "revocation_apply_batch_size",
			Help:    "Events per Redis write.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		applyDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "revocation_apply_duration_seconds",
			Help:    "Duration of successful Redis writes of a batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_consumer_pending",
			Help: "Messages not yet delivered plus delivered but not acknowledged, from the durable consumer's info.",
		}),
		lastEventAge: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_last_applied_event_age_seconds",
			Help: "Time between storing the most recently applied event in the stream and applying it.",
		}),
		unreplicated: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_unreplicated_events_total",
			Help: "Events written to the Redis primary that fewer replicas than REVOCATION_REDIS_WAIT_REPLICAS acknowledged in time; they are not announced (logout answers 202).",
		}),
		heartbeatAge: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_heartbeat_age_seconds",
			Help: "Age of the heartbeat last written to Redis when it was written (validators fail closed beyond their allowed staleness, 30 s by default).",
		}),
		active: f.NewGauge(prometheus.GaugeOpts{
			Name: "revocation_active",
			Help: "1 while this instance holds the durable consumer's pin and applies new events; 0 on a hot standby. Exactly one instance should report 1 once events flow.",
		}),
		takeovers: f.NewCounter(prometheus.CounterOpts{
			Name: "revocation_takeovers_total",
			Help: "Times this instance became the active one (received the durable consumer's messages under a new pin).",
		}),
	}
	// Expose every series from the start, so that rates work from zero.
	for _, r := range []string{reasonInvalid, reasonUnsupportedSchema, reasonSubjectMismatch} {
		m.invalid.WithLabelValues(r)
	}
	for _, t := range []string{events.TypeTokenRevoked, events.TypeUserTokensRevoked} {
		m.applied.WithLabelValues(t)
	}
	return m
}
