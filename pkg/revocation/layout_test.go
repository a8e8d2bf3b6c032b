package revocation_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/google/uuid"
)

// The vectors of docs/CONTRACT.md ("Redis Cluster layout"), computed
// independently (FNV-1a 32 in Python) before this code existed.
func TestPartitionOfVectors(t *testing.T) {
	for _, v := range []struct {
		user string
		want int
	}{
		{"", 5},
		{"8a3c5d52-2c4e-4b8f-9e0a-3f1b2c4d5e6f", 62},
		{"00000000-0000-0000-0000-000000000000", 17},
		{"user-1", 52},
	} {
		if got := revocation.PartitionOf(v.user); got != v.want {
			t.Errorf("PartitionOf(%q) = %d, want %d", v.user, got, v.want)
		}
	}
}

func TestLayoutKeys(t *testing.T) {
	const jti, user, sid = "j", "8a3c5d52-2c4e-4b8f-9e0a-3f1b2c4d5e6f", "s"
	flat := revocation.FlatLayout
	if p := flat.Partition(user); p != 0 || flat.Partitions() != 1 || flat.Partitioned() {
		t.Fatalf("flat layout: partition %d of %d", p, flat.Partitions())
	}
	for got, want := range map[string]string{
		flat.BlacklistKey(0, jti):           revocation.BlacklistKey(jti),
		flat.UserVersionKey(0, user):        revocation.UserVersionKey(user),
		flat.SessionKey(0, sid):             revocation.SessionKey(sid),
		flat.CheckpointKey(0):               "revocation:checkpoint",
		flat.HeartbeatKey(0):                "revocation:heartbeat",
		revocation.Layout{}.Tag(0):          "",
		revocation.PartitionedLayout.Tag(7): "{r:07}:",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
	pl := revocation.PartitionedLayout
	p := pl.Partition(user)
	if p != 62 || pl.Partitions() != revocation.Partitions {
		t.Fatalf("partitioned: partition %d of %d", p, pl.Partitions())
	}
	for _, k := range []string{pl.BlacklistKey(p, jti), pl.UserVersionKey(p, user), pl.SessionKey(p, sid), pl.CheckpointKey(p), pl.HeartbeatKey(p)} {
		if !strings.HasPrefix(k, "{r:62}:") {
			t.Errorf("key %q lacks the partition's hash tag", k)
		}
	}
	if got := pl.BlacklistKey(p, jti); got != "{r:62}:token_blacklist:j" {
		t.Errorf("partitioned blacklist key %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("flat Tag(1) did not panic")
		}
	}()
	flat.Tag(1)
}

// Users spread over every partition, none holding more than twice its
// share (64,000 random UUIDs: ~1,000 each, σ ≈ 31).
func TestPartitionSpread(t *testing.T) {
	var counts [revocation.Partitions]int
	const n = 64000
	for range n {
		counts[revocation.PartitionOf(uuid.Must(uuid.NewRandomFromReader(rand.Reader)).String())]++
	}
	for p, c := range counts {
		if c < n/revocation.Partitions/2 || c > 2*n/revocation.Partitions {
			t.Errorf("partition %d holds %d of %d users", p, c, n)
		}
	}
}
