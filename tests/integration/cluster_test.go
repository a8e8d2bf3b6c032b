package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// clusterOpts configures newClusterStack.
type clusterOpts struct {
	natsURL  string   // NATS_URL of both services
	redisURL string   // REDIS_URL of both services; default a redis-server of its own
	revEnv   []string // extra settings of the revocation service
	authEnv  []string // extra settings of the auth service
	logLevel string   // default debug
}

// newClusterStack is newStack against NATS servers the test started
// itself (a cluster, or servers listed with dead ones): both binaries on
// free loopback ports, ready.
func newClusterStack(t testing.TB, o clusterOpts) *stack {
	t.Helper()
	s := &stack{t: t, TokenTTL: 15 * time.Minute}
	redisURL := o.redisURL
	if redisURL == "" {
		s.Redis = testkit.StartRedis(t)
		redisURL = s.Redis.URL
	}
	authAddr, revAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	authMetrics, revMetrics := testkit.FreeAddr(t), testkit.FreeAddr(t)
	s.AuthURL, s.RevURL = "http://"+authAddr, "http://"+revAddr
	s.AuthMetricsURL, s.RevMetricsURL = "http://"+authMetrics, "http://"+revMetrics
	logLevel := o.logLevel
	if logLevel == "" {
		logLevel = "debug"
	}
	shared := []string{"NATS_URL=" + o.natsURL, "REDIS_URL=" + redisURL, "LOG_LEVEL=" + logLevel, "LOG_FORMAT=text"}
	s.Revocation = testkit.StartProc(t, "revocation", bins.Path(t, "revocation"), append(append(shared,
		"REVOCATION_HTTP_ADDR="+revAddr,
		"REVOCATION_METRICS_ADDR="+revMetrics,
		"REVOCATION_CHECK_INTERVAL=200ms",
	), o.revEnv...)...)
	s.WaitReady(s.RevURL)
	s.Auth = testkit.StartProc(t, "auth", bins.Path(t, "auth"), append(append(shared,
		"AUTH_HTTP_ADDR="+authAddr,
		"AUTH_METRICS_ADDR="+authMetrics,
		"AUTH_DB_PATH="+filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ISSUER=http://auth.test",
		"AUTH_AUDIENCE=api",
		"AUTH_ACCESS_TOKEN_TTL="+s.TokenTTL.String(),
		"AUTH_REVOCATION_WAIT=5s",
		"AUTH_ARGON2_MEMORY_KIB=64",
		"AUTH_ARGON2_ITERATIONS=1",
		"AUTH_ARGON2_PARALLELISM=1",
		"AUTH_LOGIN_RATE_IP=off",
	), o.authEnv...)...)
	s.WaitReady(s.AuthURL)
	return s
}

// TestClusterRefusesUnsetReplicas: on a NATS cluster, each service started
// without its *_STREAM_REPLICAS setting exits with a message naming it and
// creates no single-copy stream.
func TestClusterRefusesUnsetReplicas(t *testing.T) {
	c := testkit.StartNATSCluster(t, 3)
	redis := testkit.StartRedis(t)
	shared := []string{"NATS_URL=" + c.URL, "REDIS_URL=" + redis.URL, "LOG_FORMAT=text"}
	cases := []struct {
		name, setting string
		env           []string
	}{
		{"revocation", "REVOCATION_STREAM_REPLICAS", []string{
			"REVOCATION_HTTP_ADDR=" + testkit.FreeAddr(t), "REVOCATION_METRICS_ADDR=" + testkit.FreeAddr(t),
		}},
		{"auth", "AUTH_STREAM_REPLICAS", []string{
			"AUTH_HTTP_ADDR=" + testkit.FreeAddr(t), "AUTH_METRICS_ADDR=" + testkit.FreeAddr(t),
			"AUTH_DB_PATH=" + filepath.Join(t.TempDir(), "auth.db"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testkit.StartProc(t, tc.name, bins.Path(t, tc.name), append(shared, tc.env...)...)
			select {
			case <-p.Done():
			case <-time.After(30 * time.Second):
				t.Fatalf("%s still runs 30s after start on a cluster without %s", tc.name, tc.setting)
			}
			if p.Err() == nil {
				t.Fatalf("%s exited cleanly on a cluster without %s", tc.name, tc.setting)
			}
			want := tc.setting + "=3, or =1 to accept a single copy"
			if out := p.Output(); !strings.Contains(out, want) {
				t.Fatalf("%s output does not say %q:\n%s", tc.name, want, out)
			}
			_, err := c.JetStream(t).Stream(t.Context(), events.StreamName)
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("stream after %s refused to start: %v, want not found", tc.name, err)
			}
		})
	}
}

// TestNATSURLOneOfThreeUp: NATS_URL lists three servers of which two are
// down; both services connect to the third, get ready and enforce a
// logout.
func TestNATSURLOneOfThreeUp(t *testing.T) {
	n := testkit.StartNATS(t)
	url := strings.Join([]string{"nats://" + testkit.FreeAddr(t), n.URL, "nats://" + testkit.FreeAddr(t)}, ",")
	s := newClusterStack(t, clusterOpts{natsURL: url})
	name, _ := s.Register()
	tok := s.Login(name)
	expectStatus(t, "logout", s.Logout(tok), http.StatusNoContent)
	expectStatus(t, "me after logout", s.Me(tok), http.StatusUnauthorized)
}

// TestClusterStreamLeaderKilled: a 3-node cluster with the stream at R3;
// logouts run while the stream leader is killed. Every 204 or 202 is
// enforced (the token is refused afterwards) and is in the stream and in
// Redis; answers during the election are 503 and nothing else, and a
// logout that answered 503 succeeds when retried. The 503 window is
// logged. Embedded servers stop with Shutdown, which hands the
// leaderships over first (as lame-duck mode does): the window is the one
// in-flight publish waiting out AUTH_PUBLISH_TIMEOUT.
// TestClusterStreamLeaderCrash kills a process instead.
func TestClusterStreamLeaderKilled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		authEnv []string
	}{
		{"Defaults", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testkit.StartNATSCluster(t, 3)
			node := func(name string) *testkit.NATS {
				for _, n := range c.Nodes {
					if n.Name() == name {
						return n
					}
				}
				t.Errorf("no node %q", name)
				return nil
			}
			streamLeaderKilled(t, natsNodes{
				url: c.URL, js: c.JetStream(t),
				kill:    func(name string) { node(name).Shutdown() },
				restart: func(t *testing.T, name string) { node(name).Restart(t) },
			}, tc.authEnv)
		})
	}
}

// natsNodes is a cluster whose nodes a test can kill and restart.
type natsNodes struct {
	url     string              // NATS_URL: every node
	js      jetstream.JetStream // the test's own connection to the cluster
	kill    func(name string)   // stops node name; no testing.TB: runs in a goroutine
	restart func(t *testing.T, name string)
}

// streamLeader waits until the stream has a leader and two current
// replicas, and returns the leader's name.
func (c natsNodes) streamLeader(t *testing.T) string {
	t.Helper()
	var leader string
	if err := testkit.Poll(t.Context(), 30*time.Second, "the stream has a leader and two current replicas", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		st, err := c.js.Stream(ctx, events.StreamName)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		leader = info.Cluster.Leader
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return leader
}

func streamLeaderKilled(t *testing.T, c natsNodes, authEnv []string) {
	s := newClusterStack(t, clusterOpts{
		natsURL: c.url,
		// A delivery lost with the node the revocation service was on comes
		// again after the ack wait: keep it short so that a 202 is enforced
		// within the test.
		revEnv:  []string{"REVOCATION_STREAM_REPLICAS=3", "REVOCATION_ACK_WAIT=2s"},
		authEnv: append([]string{"AUTH_STREAM_REPLICAS=3"}, authEnv...),
	})
	js := c.js
	st, err := js.Stream(t.Context(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 {
		t.Fatalf("stream at R%d, want R3", info.Config.Replicas)
	}

	const before, after = 20, 30 // 2xx logouts before the kill, and after the last 503
	tokens := make([]string, 0, 400)
	for range 20 {
		name, _ := s.Register()
		for range cap(tokens) / 20 {
			tokens = append(tokens, s.Login(name))
		}
	}
	leader := c.streamLeader(t)
	var (
		acked, refused          []string // tokens whose logout answered 2xx, 503
		statuses                = map[int]int{}
		first503, last503, kill time.Time
		okAfter                 int // 2xx since the kill and the last 503
		killed                  = make(chan time.Time, 1)
	)
	for i, tok := range tokens {
		if i == before {
			go func() { // kill while logouts are in flight
				at := time.Now()
				c.kill(leader)
				killed <- at
			}()
		}
		start := time.Now()
		r := s.Logout(tok)
		statuses[r.Status]++
		switch r.Status {
		case http.StatusNoContent:
			if me := s.Me(tok); me.Status != http.StatusUnauthorized {
				t.Fatalf("logout answered 204 but /me then answered %d", me.Status)
			}
			fallthrough
		case http.StatusAccepted:
			acked = append(acked, tok)
			if i >= before {
				okAfter++
			}
		case http.StatusServiceUnavailable:
			refused = append(refused, tok)
			if first503.IsZero() {
				first503 = start
			}
			last503, okAfter = time.Now(), 0
		default:
			t.Fatalf("logout during a stream-leader kill answered %d: %s", r.Status, r.Body)
		}
		if kill.IsZero() && i >= before {
			select {
			case kill = <-killed:
			default:
			}
		}
		if !kill.IsZero() && okAfter >= after {
			break
		}
	}
	if kill.IsZero() {
		<-killed // the shutdown has ended before the restart below
	}
	if okAfter < after {
		t.Fatalf("logouts did not recover after the stream leader was killed: %d of %d tokens used, answers %v", len(acked)+len(refused), len(tokens), statuses)
	}
	window := time.Duration(0)
	if !last503.IsZero() {
		window = last503.Sub(first503)
	}
	t.Logf("stream leader %s killed: answers %v; 503 window %s (from the first 503 to the end of the last)",
		leader, statuses, window.Round(time.Millisecond))

	c.restart(t, leader)
	c.streamLeader(t)
	s.WaitReady(s.RevURL)

	// A logout that answered 503 is safe to retry: it succeeds now.
	for _, tok := range refused {
		r := s.Logout(tok)
		if r.Status != http.StatusNoContent && r.Status != http.StatusAccepted {
			t.Fatalf("retried logout after recovery answered %d: %s", r.Status, r.Body)
		}
		acked = append(acked, tok)
	}
	// Enforced, in Redis, in the stream: every acknowledged logout.
	inStream := streamJTIs(t, js)
	rdb := s.Redis.Client(t)
	for i, tok := range acked {
		// A 204 was enforced at once (checked above); a 202 within the ack
		// wait at most.
		last := 0
		if err := testkit.Poll(t.Context(), 15*time.Second, "a logged-out token is refused", func() bool {
			last = s.Me(tok).Status
			return last == http.StatusUnauthorized
		}); err != nil {
			t.Fatalf("token %d logged out with a 2xx still answers /me %d after recovery: %v", i, last, err)
		}
		jti := claim(t, tok, "jti")
		if !inStream[jti] {
			t.Fatalf("acknowledged revocation of jti %s is not in the stream", jti)
		}
		if n, err := rdb.Exists(t.Context(), jwtx.BlacklistKey(jti)).Result(); err != nil || n != 1 {
			t.Fatalf("acknowledged revocation of jti %s not in Redis: %d, %v", jti, n, err)
		}
	}
}

// streamJTIs reads the whole stream and returns the jti of every token
// event in it, retrying for a while: right after a restart, the node the
// connection is on may not serve JetStream yet (no responders).
func streamJTIs(t *testing.T, js jetstream.JetStream) map[string]bool {
	t.Helper()
	var (
		jtis map[string]bool
		err  error
	)
	if perr := testkit.Poll(t.Context(), 20*time.Second, "the stream can be read after recovery", func() bool {
		jtis, err = readJTIs(t.Context(), js)
		return err == nil
	}); perr != nil {
		t.Fatalf("%v: %v", perr, err)
	}
	return jtis
}

// readJTIs reads the stream once with an ordered consumer.
func readJTIs(ctx context.Context, js jetstream.JetStream) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	jtis := map[string]bool{}
	for seen := uint64(0); seen < info.State.Msgs; {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, err
		}
		for msg := range batch.Messages() {
			seen++
			var ev struct {
				JTI string `json:"jti"`
			}
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				return nil, fmt.Errorf("stream message %d: %w", seen, err)
			}
			if ev.JTI != "" {
				jtis[ev.JTI] = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %d of %d stream messages: %w", seen, info.State.Msgs, ctx.Err())
		}
	}
	return jtis, nil
}

// claim reads one string claim of a token without verifying it.
func claim(t *testing.T, token, name string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token with %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	v, _ := claims[name].(string)
	return v
}
