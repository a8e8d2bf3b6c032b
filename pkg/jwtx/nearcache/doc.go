// Package nearcache keeps the revocation state in the validator's memory:
// a Cache replays the REVOCATIONS stream at start, from the first message
// that can still matter (stored within Config.ReplayWindow: by default the
// longest token lifetime + leeway + ReplayMargin), then follows it, and answers revocation checks with no network round
// trip. It implements jwtx.LocalRevocationStore, so a jwtx.Validator asks
// it first and only falls back to a bounded store call when it cannot
// answer. It is the alternative to reading Redis on every validation; the
// core package jwtx does not depend on NATS, this package does.
//
// Wiring it in a microservice:
//
//	nc, err := nats.Connect(os.Getenv("NATS_URL"), nats.MaxReconnects(-1))
//	js, err := jetstream.New(nc)
//	cache, err := nearcache.New(nearcache.Config{
//		JetStream: js,
//		Fallback:  jwtx.NewRedisStore(rdb), // or nil: fail closed while stale
//		Metrics:   prometheus.DefaultRegisterer,
//	})
//	err = cache.Start(ctx)
//	defer cache.Close()
//	err = cache.WaitReady(ctx) // the replay caught up with the stream
//	v, err := jwtx.NewValidator(jwtx.Config{Resolver: keys, Issuer: iss, Audience: aud, Revocation: cache})
//
// # Never a stale answer
//
// The view is fresh as of time T when a probe sent at T (one stream info
// request, every ProbeInterval: the Cache's heartbeat, whatever the
// validation rate) found a last stream sequence that the Cache had
// applied, at once or later. Every revocation JetStream acknowledged
// before T is then in memory. The Cache answers from memory only while
// now − T ≤ MaxStaleness (default 2 s). Beyond the bound, before the
// first replay caught up, and during a replay, LocalRevocationState
// returns ok == false and RevocationState asks Config.Fallback, or, when
// there is none, returns ErrStale, which the Validator reports as
// jwtx.ErrRevocationUnavailable (the middleware answers 503): fail
// closed. So a logout acknowledged by the auth service is enforced by
// every near-cache validator at most MaxStaleness (plus the delivery lag
// of one message) later, and while NATS is down validation keeps working
// from memory for at most MaxStaleness.
//
// A service that publishes a revocation itself can call WaitApplied with
// the PubAck's sequence to wait until its own view enforces it.
//
// Choosing the fallback: jwtx.NewRedisStore keeps validation working
// through a NATS outage at the cost of Redis read access and one round
// trip per validation while stale; nil needs nothing but NATS and turns a
// NATS outage longer than MaxStaleness into 503s.
//
// # Replays
//
// A replay reads the stream from now − ReplayWindow, not from its first
// message: the stream's retention (7 days by default) is far longer than
// any token lives, and an event older than MaxTokenTTL + Leeway protects
// nothing (every expiry is at most occurred_at + MaxTokenTTL + Leeway),
// so reading it would only cost time at every start. ReplayAll replays
// everything. A replay that finds nothing stored after its start is
// caught up at once.
//
// The view is rebuilt by such a replay (a new view replaces the old one
// once caught up) when following can no longer be trusted: a jump in the
// stream sequence while following (messages deleted before they were
// applied), a sequence going backwards or a new creation time of the
// stream (recreated), or no progress while the stream is ahead for 2 ×
// MaxStaleness. Jumps during a replay are deleted or aged-out
// messages and are fine. Invalid events are dropped with a log line and
// counted.
//
// # Same rules as Redis
//
// Leeway and MaxTokenTTL must equal the revocation service's
// REVOCATION_LEEWAY and REVOCATION_MAX_TOKEN_TTL: a revoked token id is
// kept until the token's exp + leeway and never extended; a user version
// is only ever raised, kept until the event's expires_at (or occurred_at +
// MaxTokenTTL) + leeway, and an equal version only moves that later.
// Expiries are kept in whole seconds, rounded up; a periodic sweep removes
// expired entries (until then they still count, which is only stricter).
// Memory is about 30 bytes per revoked token id.
//
// # What to monitor
//
//   - jwtx_nearcache_staleness_seconds: alert well before MaxStaleness;
//     above it every validation goes to the fallback or fails.
//   - jwtx_nearcache_fallbacks_total, jwtx_nearcache_fail_closed_total:
//     validations not answered from memory.
//   - jwtx_nearcache_gaps_total, jwtx_nearcache_resyncs_total: replays;
//     each reads the stream's last ReplayWindow again.
//   - jwtx_nearcache_replayed_messages_total: messages those reads cost.
//   - jwtx_nearcache_invalid_events_total: garbage on the subjects.
//   - jwtx_nearcache_probe_failures_total, jwtx_nearcache_ready,
//     jwtx_nearcache_applied_sequence and jwtx_nearcache_entries{kind}.
package nearcache
