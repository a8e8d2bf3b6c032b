package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// clusterLogoutRate is the load of BenchmarkLogoutCluster, logouts/s.
const clusterLogoutRate = 500

// BenchmarkLogoutCluster is BenchmarkLogout at 500 logouts/s for 5s
// (open loop, latency from each request's scheduled start) with the
// stream on a 3-node embedded NATS cluster at R3 (a PubAck waits for a
// quorum to fsync), beside a single server at R1 under the same load.
func BenchmarkLogoutCluster(b *testing.B) {
	for _, tc := range []struct {
		name     string
		replicas int
		nodes    int
	}{
		{"single-R1-500", 1, 1},
		{"cluster3-R3-500", 3, 3},
	} {
		b.Run(tc.name, func(b *testing.B) {
			natsURL := testkit.StartNATS(b).URL
			if tc.nodes > 1 {
				natsURL = testkit.StartNATSCluster(b, tc.nodes).URL
			}
			priv, keyFile := signingKeyFile(b)
			replicas := fmt.Sprint(tc.replicas)
			s := newClusterStack(b, clusterOpts{
				natsURL: natsURL, logLevel: "warn",
				revEnv:  []string{"REVOCATION_STREAM_REPLICAS=" + replicas},
				authEnv: []string{"AUTH_STREAM_REPLICAS=" + replicas, "AUTH_SIGNING_KEY_FILE=" + keyFile},
			})
			signer, err := jwtx.NewSigner(jwtx.SignerConfig{Key: priv, Issuer: "http://auth.test", Audience: "api", TTL: s.TokenTTL})
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
			n := int(clusterLogoutRate * loadDuration / time.Second)
			for range b.N {
				b.StopTimer()
				tokens := make([]string, n)
				for i := range tokens {
					if tokens[i], _, err = signer.Issue(uuid.NewString(), 0); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				openLoop(b, clusterLogoutRate, n, func(ctx context.Context, i int) error {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.AuthURL+"/v1/auth/logout", nil)
					if err != nil {
						return err
					}
					req.Header.Set("Authorization", "Bearer "+tokens[i])
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						return fmt.Errorf("logout answered %d, want 204", resp.StatusCode)
					}
					return nil
				})
			}
		})
	}
}
