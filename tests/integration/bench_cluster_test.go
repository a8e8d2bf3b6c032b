package integration

import (
	"fmt"
	"testing"

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
			logoutLoad(b, s.AuthURL, signer, clusterLogoutRate)
		})
	}
}
