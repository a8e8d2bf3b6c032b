package main

// metric names one figure of one benchmark: its name as go test prints it
// without the -GOMAXPROCS suffix, and the unit of the value.
type metric struct {
	Name, Unit string
}

// row is one line of the table: our figure, its baseline from the same run
// (Base.Name empty for an absolute target), and the target.
type row struct {
	Figure string
	Ours   metric
	Base   metric
	Target string
	// Ok reports whether the target is met; b is 0 without a baseline or
	// when the baseline was not measured (a ratio target then fails). Nil
	// for a figure reported without a target of its own.
	Ok func(o, b float64) bool
}

func ratioAtMost(limit float64) func(o, b float64) bool {
	return func(o, b float64) bool { return b > 0 && o/b <= limit }
}

func ratioAtLeast(limit float64) func(o, b float64) bool {
	return func(o, b float64) bool { return b > 0 && o/b >= limit }
}

func atMost(limit float64) func(o, _ float64) bool {
	return func(o, _ float64) bool { return o <= limit }
}

func atLeast(limit float64) func(o, _ float64) bool {
	return func(o, _ float64) bool { return o >= limit }
}

func allocsAtMostPlus(extra float64) func(o, b float64) bool {
	return func(o, b float64) bool { return b > 0 && o <= b+extra }
}

// rows are the figures of the performance issue, in its order.
var rows = []row{
	{"near-cache validation, EdDSA (time)", metric{"BenchmarkNearCacheValidate/EdDSA/jwtx", "ns/op"}, metric{"BenchmarkNearCacheValidate/EdDSA/golang-jwt", "ns/op"}, "≤ 1.05× golang-jwt parse alone", ratioAtMost(1.05)},
	{"near-cache validation, EdDSA (allocations)", metric{"BenchmarkNearCacheValidate/EdDSA/jwtx", "allocs/op"}, metric{"BenchmarkNearCacheValidate/EdDSA/golang-jwt", "allocs/op"}, "≤ golang-jwt + 4", allocsAtMostPlus(4)},
	{"near-cache validation, HS256 (time)", metric{"BenchmarkNearCacheValidate/HS256/jwtx", "ns/op"}, metric{"BenchmarkNearCacheValidate/HS256/golang-jwt", "ns/op"}, "≤ 1.05× golang-jwt parse alone", ratioAtMost(1.05)},
	{"near-cache validation, HS256 (allocations)", metric{"BenchmarkNearCacheValidate/HS256/jwtx", "allocs/op"}, metric{"BenchmarkNearCacheValidate/HS256/golang-jwt", "allocs/op"}, "≤ golang-jwt + 4", allocsAtMostPlus(4)},
	{"near-cache validation, RS256 of another issuer (time)", metric{"BenchmarkNearCacheValidate/RS256/jwtx", "ns/op"}, metric{"BenchmarkNearCacheValidate/RS256/golang-jwt", "ns/op"}, "≤ 1.05× golang-jwt parse alone", ratioAtMost(1.05)},
	{"near-cache validation, RS256 of another issuer (allocations)", metric{"BenchmarkNearCacheValidate/RS256/jwtx", "allocs/op"}, metric{"BenchmarkNearCacheValidate/RS256/golang-jwt", "allocs/op"}, "≤ golang-jwt's", allocsAtMostPlus(0)},
	{"near-cache validation, ES256 of another issuer (time)", metric{"BenchmarkNearCacheValidate/ES256/jwtx", "ns/op"}, metric{"BenchmarkNearCacheValidate/ES256/golang-jwt", "ns/op"}, "≤ 1.05× golang-jwt parse alone", ratioAtMost(1.05)},
	{"near-cache validation, ES256 of another issuer (allocations)", metric{"BenchmarkNearCacheValidate/ES256/jwtx", "allocs/op"}, metric{"BenchmarkNearCacheValidate/ES256/golang-jwt", "allocs/op"}, "≤ golang-jwt's", allocsAtMostPlus(0)},
	{"verified-token cache hit, RS256", metric{"BenchmarkVerifiedCache/external-RS256/jwtx-cached", "ns/op"}, metric{}, "≤ 1 µs", atMost(1000)},
	{"verified-token cache hit, PS256", metric{"BenchmarkVerifiedCache/external-PS256/jwtx-cached", "ns/op"}, metric{}, "≤ 1 µs", atMost(1000)},
	{"verified-token cache hit, ES256", metric{"BenchmarkVerifiedCache/external-ES256/jwtx-cached", "ns/op"}, metric{}, "≤ 1 µs", atMost(1000)},
	{"verified-token cache hit, EdDSA of another issuer", metric{"BenchmarkVerifiedCache/external-EdDSA/jwtx-cached", "ns/op"}, metric{}, "≤ 1 µs", atMost(1000)},
	{"verified-token cache hit, EdDSA (own issuer)", metric{"BenchmarkVerifiedCache/EdDSA/jwtx-cached", "ns/op"}, metric{}, "≤ 1 µs", atMost(1000)},
	{"gRPC unary call over loopback with the jwtx interceptor (verified-token cache, in-memory store), beside the bare call", metric{"BenchmarkUnaryOverhead/jwtx", "ns/op"}, metric{"BenchmarkUnaryOverhead/bare", "ns/op"}, "— (reported)", nil},
	{"gRPC interceptor alone, called in process with a no-op handler", metric{"BenchmarkUnaryOverhead/jwtx-inprocess", "ns/op"}, metric{}, "— (reported)", nil},
	{"repeat token, verified-token cache, EdDSA", metric{"BenchmarkVerifiedCache/EdDSA/jwtx-cached", "ns/op"}, metric{"BenchmarkVerifiedCache/EdDSA/golang-jwt", "ns/op"}, "≤ 0.2× (≥ 5× faster) than golang-jwt parse alone", ratioAtMost(0.2)},
	{"Redis mode, 1 goroutine, p50", metric{"BenchmarkValidateRedis/1goroutine/jwtx", "p50-µs"}, metric{"BenchmarkValidateRedis/1goroutine/golang-jwt+MGET", "p50-µs"}, "≤ 1.1× golang-jwt + raw MGET", ratioAtMost(1.1)},
	{"Redis mode, 1 goroutine, p50, tokens with a session (sid read in the same MGET), alternating with tokens without", metric{"BenchmarkSessionCheck", "p50-µs-sid"}, metric{"BenchmarkSessionCheck", "p50-µs-nosid"}, "≤ 1.05× the same validation without sid", ratioAtMost(1.05)},
	{"Redis round trips per validation, with and without sid", metric{"BenchmarkSessionCheck", "roundtrips/op"}, metric{}, "1 (no round trip added)", atMost(1)},
	{"near-cache memory per revoked session", metric{"BenchmarkEntryMemory/session", "B/entry"}, metric{"BenchmarkEntryMemory/token", "B/entry"}, "— (reported)", nil},
	{"Redis mode, 1 goroutine, p99", metric{"BenchmarkValidateRedis/1goroutine/jwtx", "p99-µs"}, metric{"BenchmarkValidateRedis/1goroutine/golang-jwt+MGET", "p99-µs"}, "≤ 1.25× golang-jwt + raw MGET", ratioAtMost(1.25)},
	{"Redis mode, 64 goroutines, throughput, every token distinct (every signature verified)", metric{"BenchmarkValidateRedis/64goroutines/jwtx-coalesced", "validations/s"}, metric{"BenchmarkValidateRedis/64goroutines/golang-jwt+MGET", "validations/s"}, "≥ 1.5× golang-jwt + raw MGET", ratioAtLeast(1.5)},
	{"Redis mode, 64 goroutines, throughput, 1,024 tokens repeating (verified-token cache)", metric{"BenchmarkValidateRedis/64goroutines/jwtx-coalesced+verified-cache", "validations/s"}, metric{"BenchmarkValidateRedis/64goroutines/golang-jwt+MGET", "validations/s"}, "≥ 1.5× golang-jwt + raw MGET", ratioAtLeast(1.5)},
	{"revoke → rejected by all of 10 near-cache validators, p50 (publish with its fsync included)", metric{"BenchmarkRevokeToReject/nearcache-10", "p50-µs"}, metric{"BenchmarkRevokeToReject/raw-jetstream-10", "p50-µs"}, "—", nil},
	{"revoke → rejected by all of 10 near-cache validators, p99 (publish with its fsync included)", metric{"BenchmarkRevokeToReject/nearcache-10", "p99-µs"}, metric{"BenchmarkRevokeToReject/raw-jetstream-10", "p99-µs"}, "p99 ≤ 2 ms", atMost(2000)},
	{"revoke → rejected by all of 10 near-cache validators, max", metric{"BenchmarkRevokeToReject/nearcache-10", "max-µs"}, metric{"BenchmarkRevokeToReject/raw-jetstream-10", "max-µs"}, "—", nil},
	{"PubAck → rejected by all of 10 near-cache validators, p99", metric{"BenchmarkRevokeToReject/nearcache-10", "ack-p99-µs"}, metric{"BenchmarkRevokeToReject/raw-jetstream-10", "ack-p99-µs"}, "—", nil},
	{"logout at 1,000/s: calls not answered 204 (503 when durability was not confirmed in time)", metric{"BenchmarkLogout/auth-logout", "failed-calls"}, metric{}, "0", atMost(0)},
	{"logout (204, enforced) at 1,000/s, sync always, p50", metric{"BenchmarkLogout/auth-logout", "p50-µs"}, metric{"BenchmarkPublish/raw-jetstream", "p50-µs"}, "—", nil},
	{"logout (204, enforced) at 1,000/s, sync always, p99", metric{"BenchmarkLogout/auth-logout", "p99-µs"}, metric{"BenchmarkPublish/raw-jetstream", "p99-µs"}, "p99 ≤ 10 ms", atMost(10_000)},
	{"logout (204, enforced) at 500/s on a 3-node NATS cluster, stream at R3, p99", metric{"BenchmarkLogoutCluster/cluster3-R3-500", "p99-µs"}, metric{"BenchmarkLogoutCluster/single-R1-500", "p99-µs"}, "— (reported beside one server at R1)", nil},
	{"logout at 500/s on a 3-node NATS cluster, stream at R3, p50", metric{"BenchmarkLogoutCluster/cluster3-R3-500", "p50-µs"}, metric{"BenchmarkLogoutCluster/single-R1-500", "p50-µs"}, "— (reported)", nil},
	{"highest logout rate with p99 ≤ 10 ms (204, enforced), one NATS server, sync always, rates stepped 250-2,000/s", metric{"BenchmarkLogout/highest-rate", "logouts/s"}, metric{}, "≥ 1,000/s", atLeast(1000)},
	{"logout at 1,000/s offered: achieved rate", metric{"BenchmarkLogout/auth-logout", "ops/s"}, metric{"BenchmarkLogout/auth-logout", "offered-ops/s"}, "— (reported)", nil},
	{"refresh (rotation) at 500/s, open loop, p50", metric{"BenchmarkSessions/auth-refresh", "p50-µs"}, metric{"BenchmarkLogout/auth-logout", "p50-µs"}, "— (reported beside logout)", nil},
	{"refresh (rotation) at 500/s, open loop, p99", metric{"BenchmarkSessions/auth-refresh", "p99-µs"}, metric{"BenchmarkLogout/auth-logout", "p99-µs"}, "— (reported beside logout)", nil},
	{"refresh at 500/s offered: achieved rate", metric{"BenchmarkSessions/auth-refresh", "ops/s"}, metric{"BenchmarkSessions/auth-refresh", "offered-ops/s"}, "— (reported)", nil},
	{"login at 10/s, production argon2id (64 MiB, 2 passes), p99", metric{"BenchmarkSessions/auth-login", "p99-µs"}, metric{}, "— (reported)", nil},
	{"load generator's own lateness (call started after its scheduled time) during logout at 1,000/s, p99", metric{"BenchmarkLogout/auth-logout", "start-late-p99-µs"}, metric{"BenchmarkOpenLoopNoop/noop-1000", "start-late-p99-µs"}, "— (reported beside the generator alone)", nil},
	{"load generator alone at 1,000/s against a no-op handler, p99", metric{"BenchmarkOpenLoopNoop/noop-1000", "p99-µs"}, metric{}, "< 1 ms", atMost(1000)},
	{"near-cache lookup per validation", metric{"BenchmarkLocalRevocationState", "ns/op"}, metric{}, "— (0 allocations)", nil},
	{"burst ingest into Redis, 100k events", metric{"BenchmarkIngest/revocation-service", "revocations/s"}, metric{"BenchmarkIngest/raw-jetstream-consume", "revocations/s"}, "≥ 75,000 revocations/s", atLeast(75_000)},
	{"Redis memory per live revocation (used_memory growth / blacklist keys written by the ingest path)", metric{"BenchmarkIngest/revocation-service", "redis-bytes/revocation"}, metric{"BenchmarkIngest/revocation-service", "redis-key-bytes"}, "≤ 200 B", atMost(200)},
	{"rebuild of an empty Redis, 1M live revocations", metric{"BenchmarkRebuild/revocation-service", "s"}, metric{"BenchmarkRebuild/raw-jetstream-replay", "s"}, "≤ 15 s", atMost(15)},
	{"near-cache cold start, 1M live revocations (time)", metric{"BenchmarkColdStart/nearcache", "s"}, metric{"BenchmarkColdStart/raw-jetstream-replay", "s"}, "≤ 10 s", atMost(10)},
	{"near-cache cold start, 1M live revocations (heap)", metric{"BenchmarkColdStart/nearcache", "B/revocation"}, metric{}, "≤ 64 B per revocation", atMost(64)},
	{"fail closed with Redis hung, 1 goroutine, p99", metric{"BenchmarkFailClosedHung/1goroutine/jwtx", "p99-µs"}, metric{"BenchmarkFailClosedHung/1goroutine/jwtx", "budget-µs"}, "≤ 1.1× the budget", ratioAtMost(1.1)},
	{"fail closed with Redis hung, 64 goroutines coalesced, p99", metric{"BenchmarkFailClosedHung/64goroutines/jwtx-coalesced", "p99-µs"}, metric{"BenchmarkFailClosedHung/64goroutines/jwtx-coalesced", "budget-µs"}, "≤ 1.1× the budget", ratioAtMost(1.1)},
}

// cdfPlot is one plot of latency distributions: one line per benchmark
// whose samples were written (testkit.Latencies).
type cdfPlot struct {
	File, Title string
	Series      []string // benchmark names
}

var cdfPlots = []cdfPlot{
	{"redis-1goroutine.png", "Redis mode, 1 goroutine: validation latency", []string{"BenchmarkValidateRedis/1goroutine/jwtx", "BenchmarkValidateRedis/1goroutine/golang-jwt+MGET"}},
	{"logout.png", "Logout at 1,000/s (204, enforced) vs one raw JetStream publish", []string{"BenchmarkLogout/auth-logout", "BenchmarkPublish/raw-jetstream", "BenchmarkPublish/events-publisher"}},
	{"revoke-to-reject.png", "Revoke → rejected by all of 10 near-cache validators", []string{"BenchmarkRevokeToReject/nearcache-10", "BenchmarkRevokeToReject/raw-jetstream-10"}},
	{"fail-closed.png", "Redis hung: time to fail closed (budget 100 ms)", []string{"BenchmarkFailClosedHung/1goroutine/jwtx", "BenchmarkFailClosedHung/64goroutines/jwtx-coalesced", "BenchmarkFailClosedHung/64goroutines/jwtx-naive"}},
}

// concurrencyPrefix names the benchmarks of the throughput plot:
// <prefix>/<variant>/<N>goroutines, with a validations/s metric.
const concurrencyPrefix = "BenchmarkRedisConcurrency/"
