package revocation

import (
	"strconv"
)

// KeyHeartbeat holds the freshness heartbeat: Unix milliseconds of a
// moment at which every event the stream had stored was applied to this
// Redis. The revocation service raises it about once a second while it
// keeps up; a validator that reads a heartbeat older than its allowed
// staleness fails closed, because that Redis has stopped receiving writes
// (the service is down, or the validators read a replica the service no
// longer writes to). Written beside the checkpoint; never expires.
const KeyHeartbeat = "revocation:heartbeat"

// Partitions is the number of partitions of PartitionedLayout.
const Partitions = 64

// Layout says where the revocation keys live in Redis.
//
// FlatLayout, for a single Redis server or a Sentinel-managed primary, is
// the layout of the contract's key table: token_blacklist:{jti} and the
// others, one revocation:checkpoint and one revocation:heartbeat.
//
// PartitionedLayout, for Redis Cluster, puts every key of a user in one
// of Partitions partitions, chosen by the user id (PartitionOf). Each key
// starts with the partition's hash tag, "{r:NN}:" (NN the partition,
// two decimal digits), followed by the flat name; each partition has its
// own checkpoint and heartbeat. So one validation still reads one slot of
// one node with one MGET, and a lost partition fails closed for its own
// users only.
//
// A zero Layout is FlatLayout.
type Layout struct {
	partitioned bool
}

var (
	// FlatLayout is the single-server layout (one partition, the contract's
	// key names unchanged).
	FlatLayout = Layout{}
	// PartitionedLayout is the Redis Cluster layout (Partitions partitions,
	// hash-tagged keys).
	PartitionedLayout = Layout{partitioned: true}
)

// tags are the hash tags of PartitionedLayout, one per partition.
var tags = func() [Partitions]string {
	var t [Partitions]string
	for p := range t {
		n := strconv.Itoa(p)
		if p < 10 {
			n = "0" + n
		}
		t[p] = "{r:" + n + "}:"
	}
	return t
}()

// Partitioned reports whether l is PartitionedLayout.
func (l Layout) Partitioned() bool { return l.partitioned }

// String returns "flat" or "partitioned".
func (l Layout) String() string {
	if l.partitioned {
		return "partitioned"
	}
	return "flat"
}

// Partitions returns the number of partitions: 1 or Partitions.
func (l Layout) Partitions() int {
	if l.partitioned {
		return Partitions
	}
	return 1
}

// Partition returns the partition of userID's keys: always 0 in
// FlatLayout, PartitionOf(userID) in PartitionedLayout.
func (l Layout) Partition(userID string) int {
	if !l.partitioned {
		return 0
	}
	return PartitionOf(userID)
}

// PartitionOf returns the partition of PartitionedLayout that holds the
// keys of userID: the 32-bit FNV-1a hash of its bytes modulo Partitions.
// docs/CONTRACT.md lists test vectors.
func PartitionOf(userID string) int {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(userID); i++ {
		h ^= uint32(userID[i])
		h *= prime
	}
	return int(h % Partitions)
}

// Tag returns the key prefix of partition p: "" in FlatLayout, the hash
// tag "{r:NN}:" in PartitionedLayout. It panics on a partition out of
// range.
func (l Layout) Tag(p int) string {
	if !l.partitioned {
		if p != 0 {
			panic("revocation: partition out of range for the flat layout")
		}
		return ""
	}
	return tags[p]
}

// BlacklistKey returns the key marking token jti (of a user in partition
// p) as revoked.
func (l Layout) BlacklistKey(p int, jti string) string {
	return l.Tag(p) + KeyPrefixTokenBlacklist + jti
}

// UserVersionKey returns the key holding the token version of userID,
// who is in partition p.
func (l Layout) UserVersionKey(p int, userID string) string {
	return l.Tag(p) + KeyPrefixUserTokenVersion + userID
}

// SessionKey returns the key marking session sid (of a user in partition
// p) as revoked.
func (l Layout) SessionKey(p int, sid string) string {
	return l.Tag(p) + KeyPrefixSessionRevoked + sid
}

// CheckpointKey returns partition p's checkpoint key.
func (l Layout) CheckpointKey(p int) string { return l.Tag(p) + KeyCheckpoint }

// HeartbeatKey returns partition p's heartbeat key.
func (l Layout) HeartbeatKey(p int) string { return l.Tag(p) + KeyHeartbeat }
