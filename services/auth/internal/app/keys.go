package app

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// RetiredKey is an earlier signing key: tokens it signed stay valid until
// they expire, so it stays in the JWKS until then.
type RetiredKey struct {
	Path      string    // PKCS#8 PEM file of the private key
	RetiredAt time.Time // when it stopped signing
}

// parseRetiredKeys reads AUTH_RETIRED_KEYS: "path@time,path@time".
func parseRetiredKeys(v string) ([]RetiredKey, error) {
	var out []RetiredKey
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndex(item, "@")
		if i <= 0 {
			return nil, fmt.Errorf("%q: want PATH@RFC3339-TIME", item)
		}
		at, err := time.Parse(time.RFC3339, item[i+1:])
		if err != nil {
			return nil, fmt.Errorf("%q: retirement time: %w", item, err)
		}
		out = append(out, RetiredKey{Path: item[:i], RetiredAt: at})
	}
	return out, nil
}

// retireKeys adds each retired key to keys until its last token has
// expired (retirement + token TTL + the validators' leeway), and returns
// how many are still live. A key whose deadline has passed is left out:
// tokens with its kid are rejected as unknown.
func retireKeys(keys *jwtx.KeySet, retired []RetiredKey, ttl time.Duration, now time.Time) (int, error) {
	live := 0
	for _, r := range retired {
		pemBytes, err := os.ReadFile(r.Path)
		if err != nil {
			return 0, fmt.Errorf("retired key %s: %w", r.Path, err)
		}
		priv, err := jwtx.ParsePrivateKeyPEM(pemBytes)
		if err != nil {
			return 0, fmt.Errorf("retired key %s: %w", r.Path, err)
		}
		until := r.RetiredAt.Add(ttl + jwtx.DefaultLeeway)
		if !until.After(now) {
			continue
		}
		kid := keys.Add(priv.Public().(ed25519.PublicKey))
		keys.Retire(kid, until)
		live++
	}
	return live, nil
}
