package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// bins are bin/auth and bin/revocation, built once for the whole run.
var bins = testkit.NewBinaries(testkit.ServicePackages...)

func TestMain(m *testing.M) {
	if _, err := bins.Build(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		bins.Remove()
		os.Exit(1)
	}
	os.Exit(bins.Run(m))
}

// stack is the whole system: embedded NATS, a redis-server, and both
// service binaries on free loopback ports.
type stack struct {
	t          testing.TB
	NATS       *testkit.NATS
	Redis      *testkit.Redis
	Auth       *testkit.Proc
	Revocation *testkit.Proc
	AuthURL    string
	RevURL     string
	// AuthMetricsURL and RevMetricsURL are the metrics listeners, the only
	// ones serving /metrics.
	AuthMetricsURL string
	RevMetricsURL  string
	TokenTTL       time.Duration
}

type stackOpts struct {
	revocationWait time.Duration
	logLevel       string   // default debug
	authEnv        []string // extra settings of the auth service
}

func newStack(t testing.TB, o stackOpts) *stack {
	t.Helper()
	if o.revocationWait == 0 {
		o.revocationWait = 5 * time.Second
	}
	if o.logLevel == "" {
		o.logLevel = "debug"
	}
	s := &stack{t: t, NATS: testkit.StartNATS(t), Redis: testkit.StartRedis(t), TokenTTL: 15 * time.Minute}
	authAddr, revAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	authMetrics, revMetrics := testkit.FreeAddr(t), testkit.FreeAddr(t)
	s.AuthURL, s.RevURL = "http://"+authAddr, "http://"+revAddr
	s.AuthMetricsURL, s.RevMetricsURL = "http://"+authMetrics, "http://"+revMetrics
	shared := []string{
		"NATS_URL=" + s.NATS.URL,
		"REDIS_URL=" + s.Redis.URL,
		"LOG_LEVEL=" + o.logLevel,
		"LOG_FORMAT=text",
	}
	s.Revocation = testkit.StartProc(t, "revocation", bins.Path(t, "revocation"), append(shared,
		"REVOCATION_HTTP_ADDR="+revAddr,
		"REVOCATION_METRICS_ADDR="+revMetrics,
		"REVOCATION_CHECK_INTERVAL=200ms",
	)...)
	s.WaitReady(s.RevURL)
	s.Auth = testkit.StartProc(t, "auth", bins.Path(t, "auth"), append(append(shared,
		"AUTH_HTTP_ADDR="+authAddr,
		"AUTH_METRICS_ADDR="+authMetrics,
		"AUTH_DB_PATH="+filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ISSUER=http://auth.test",
		"AUTH_AUDIENCE=api",
		"AUTH_ACCESS_TOKEN_TTL="+s.TokenTTL.String(),
		"AUTH_REVOCATION_WAIT="+o.revocationWait.String(),
		"AUTH_ARGON2_MEMORY_KIB=64",
		"AUTH_ARGON2_ITERATIONS=1",
		"AUTH_ARGON2_PARALLELISM=1",
	), o.authEnv...)...)
	s.WaitReady(s.AuthURL)
	return s
}

// mustStart starts p again (after Kill or Stop), failing the test if it
// cannot.
func mustStart(t testing.TB, p *testkit.Proc) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
}

// WaitReady polls base+"/readyz" until it answers 200.
func (s *stack) WaitReady(base string) {
	s.t.Helper()
	testkit.WaitHTTP(s.t, base+"/readyz", http.StatusOK)
}

// Metrics returns the text exposition of base+"/metrics"; base is a
// metrics listener (AuthMetricsURL, RevMetricsURL).
func (s *stack) Metrics(base string) string {
	s.t.Helper()
	resp := s.do(http.MethodGet, base+"/metrics", "", nil)
	if resp.Status != http.StatusOK {
		s.t.Fatalf("GET %s/metrics: %d %s", base, resp.Status, resp.Body)
	}
	return resp.Body
}

func hasMetric(text, prefix string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

// signingKeyFile writes a new Ed25519 signing key as AUTH_SIGNING_KEY_FILE
// reads it, for a stack whose auth service keeps its key across restarts
// or whose tokens a test signs itself.
func signingKeyFile(tb testing.TB) (ed25519.PrivateKey, string) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pemBytes, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	return priv, path
}
