// Package store is the Redis side of the revocation service: it writes
// batches of revocation events with one Redis Functions call each (FCALL
// of Library, loaded on first use when the user may), keeps the
// checkpoint, and runs the rebuild protocol that refills an emptied Redis.
//
//	s := store.New(rdb, store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour})
//	res, err := s.Apply(ctx, store.Batch{Events: evs, MaxSeq: 42, MinCheckpoint: last})
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/redis/go-redis/v9"
)

// Redis key names. The first four are public interface read by pkg/jwtx
// validators, defined once in package revocation; these are the same
// constants.
const (
	// KeyPrefixTokenBlacklist is followed by a token's jti; the value is
	// BlacklistValue, expiring at the token's exp plus leeway.
	KeyPrefixTokenBlacklist = revocation.KeyPrefixTokenBlacklist
	// KeyPrefixUserTokenVersion is followed by a user id; the value is the
	// lowest token version still valid for that user.
	KeyPrefixUserTokenVersion = revocation.KeyPrefixUserTokenVersion
	// KeyPrefixSessionRevoked is followed by a session id (sid); the value
	// is BlacklistValue and the key expires with the session's last access
	// token.
	KeyPrefixSessionRevoked = revocation.KeyPrefixSessionRevoked
	// KeyCheckpoint holds the last applied stream sequence. Validators fail
	// closed while it is missing.
	KeyCheckpoint = revocation.KeyCheckpoint
	// KeyHeartbeat holds the Unix milliseconds at which this service last
	// knew Redis caught up with the stream (Heartbeat); validators fail
	// closed when it is too old.
	KeyHeartbeat = revocation.KeyHeartbeat
	// KeyRebuildMarker is internal to this service: the set of ids of the
	// rebuilds in progress (one per partition, after the partition's hash
	// tag). A flush removes it, which tells a running rebuild that what it
	// wrote so far is gone.
	KeyRebuildMarker = "revocation:rebuild"
)

// Sentinel errors of Apply and FinishRebuild. Each means that nothing was
// written.
var (
	// ErrCheckpointLost means the checkpoint is missing: Redis lost its
	// data and must be rebuilt from the stream.
	ErrCheckpointLost = errors.New("store: checkpoint missing")
	// ErrCheckpointRegressed means the checkpoint is below what this process
	// already wrote: Redis went back in time and the events after the
	// checkpoint must be replayed.
	ErrCheckpointRegressed = errors.New("store: checkpoint went backwards")
	// ErrRebuildAborted means this rebuild's marker is gone (Redis was
	// flushed again, or the marker expired): the rebuild must start over.
	ErrRebuildAborted = errors.New("store: rebuild marker gone")
)

// DefaultMarkerTTL bounds how long the mark of a rebuild that crashed stays
// in Redis. Every batch of a running rebuild extends it.
const DefaultMarkerTTL = time.Hour

// DefaultWaitTimeout bounds the WAIT after each write when
// Options.WaitReplicas is set.
const DefaultWaitTimeout = time.Second

// Options configures a Store.
type Options struct {
	// Leeway is added to every expiry.
	Leeway time.Duration
	// MaxTokenTTL is the longest token lifetime: a user version lives
	// until occurred_at + MaxTokenTTL + Leeway, and no key beyond that
	// (revocation.Retention).
	MaxTokenTTL time.Duration
	// MarkerTTL defaults to DefaultMarkerTTL.
	MarkerTTL time.Duration
	// Now defaults to time.Now; it decides which events are already expired.
	Now func() time.Time
	// Layout overrides the key layout; nil means jwtx.LayoutFor(rdb)
	// (partitioned for a Redis Cluster client, flat otherwise).
	Layout *revocation.Layout
	// WaitReplicas, when positive, makes every write wait (Redis WAIT, on
	// the connection that wrote) until that many replicas acknowledged it,
	// at most WaitTimeout; Result.Replicated says whether they did. A
	// write announced only when replicated survives a failover to any of
	// those replicas; one that is not is still in the stream, and a
	// failover that loses it takes the checkpoint back with it, so the
	// service replays it (ErrCheckpointRegressed).
	WaitReplicas int
	// WaitTimeout defaults to DefaultWaitTimeout.
	WaitTimeout time.Duration
}

// WaitAll as Options.WaitReplicas waits for every replica the primary has
// had since the Store started (the highest connected_slaves read by
// RefreshReplicas; the flat layout). A replica removed for good makes
// every write unreplicated (202s) until the service restarts: set a
// number instead where replicas come and go.
const WaitAll = -1

// Store writes revocations into Redis. It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	opts      Options
	layout    revocation.Layout
	retention revocation.Retention

	// replicas is the primary's connected replicas for WaitAll; -1 until
	// RefreshReplicas read it.
	replicas atomic.Int64

	mu sync.Mutex
	// floors[p] is the highest checkpoint this Store wrote or adopted in
	// partition p: a lower stored one means Redis lost writes.
	floors []uint64
	// rebuilds maps a rebuild id to the partitions it rebuilds, and
	// rebuildOf a partition to the rebuild in progress there: normal
	// batches write those partitions in rebuild mode meanwhile.
	rebuilds  map[string][]int
	rebuildOf map[int]string
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.MarkerTTL <= 0 {
		opts.MarkerTTL = DefaultMarkerTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = DefaultWaitTimeout
	}
	layout := jwtx.LayoutFor(rdb)
	if opts.Layout != nil {
		layout = *opts.Layout
	}
	s := &Store{
		rdb: rdb, opts: opts, layout: layout,
		retention: revocation.Retention{MaxTokenTTL: opts.MaxTokenTTL, Leeway: opts.Leeway},
		floors:    make([]uint64, layout.Partitions()),
		rebuilds:  map[string][]int{},
		rebuildOf: map[int]string{},
	}
	s.replicas.Store(-1)
	return s
}

// RefreshReplicas reads how many replicas the primary has now (INFO
// replication) and raises the count WaitAll waits for to it; without
// WaitAll it does nothing.
func (s *Store) RefreshReplicas(ctx context.Context) error {
	if s.opts.WaitReplicas != WaitAll {
		return nil
	}
	info, err := s.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("store: read replicas: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("store: read replicas: connected_slaves %q", v)
			}
			// Never lowered: an old primary that Sentinel replaced still
			// accepts writes for a moment, with fewer replicas (the one
			// promoted is gone from it); waiting for fewer then would let
			// a write that the promoted one lacks be announced.
			for cur := s.replicas.Load(); n > cur && !s.replicas.CompareAndSwap(cur, n); cur = s.replicas.Load() {
			}
			return nil
		}
	}
	return errors.New("store: read replicas: no connected_slaves in INFO replication")
}

// waitFor returns how many replicas a write waits for.
func (s *Store) waitFor(ctx context.Context) (int, error) {
	if s.opts.WaitReplicas != WaitAll {
		return s.opts.WaitReplicas, nil
	}
	if s.replicas.Load() < 0 {
		if err := s.RefreshReplicas(ctx); err != nil {
			return 0, err
		}
	}
	return int(s.replicas.Load()), nil
}

// Layout returns the key layout the Store writes.
func (s *Store) Layout() revocation.Layout { return s.layout }

// PartitionCheckpoint is one partition's checkpoint.
type PartitionCheckpoint struct {
	Seq uint64
	OK  bool // false: missing (that partition lost its data)
}

// Checkpoints reads every partition's checkpoint (one pipeline).
func (s *Store) Checkpoints(ctx context.Context) ([]PartitionCheckpoint, error) {
	n := s.layout.Partitions()
	cmds := make([]*redis.StringCmd, n)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			cmds[i] = p.Get(ctx, s.layout.CheckpointKey(i))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: read checkpoints: %w", err)
	}
	cps := make([]PartitionCheckpoint, n)
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return nil, fmt.Errorf("store: read checkpoint %d: %w", i, err)
		}
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			seq = 0 // not something this service wrote; the next write replaces it
		}
		cps[i] = PartitionCheckpoint{Seq: seq, OK: true}
	}
	return cps, nil
}

// Checkpoint returns the lowest checkpoint over the partitions (the flat
// layout's one checkpoint); ok is false when any is missing.
func (s *Store) Checkpoint(ctx context.Context) (seq uint64, ok bool, err error) {
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return 0, false, err
	}
	low, ok := Lowest(cps)
	return low, ok, nil
}

// Lowest returns the lowest of the checkpoints; ok is false when any is
// missing.
func Lowest(cps []PartitionCheckpoint) (low uint64, ok bool) {
	for i, cp := range cps {
		if !cp.OK {
			return 0, false
		}
		if i == 0 || cp.Seq < low {
			low = cp.Seq
		}
	}
	return low, true
}

// Adopt takes cps (read by Checkpoints) as what this Store last wrote:
// after a sync, Redis is where the stream says it should be, even if it
// is below what this Store wrote before.
func (s *Store) Adopt(cps []PartitionCheckpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, cp := range cps {
		if i < len(s.floors) && cp.OK {
			s.floors[i] = cp.Seq
		}
	}
}

// raise records checkpoint cp written in partition p.
func (s *Store) raise(p int, cp uint64) {
	s.mu.Lock()
	s.floors[p] = max(s.floors[p], cp)
	s.mu.Unlock()
}

func (s *Store) floor(p int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.floors[p]
}

// BeginRebuild registers rebuild id in the marker of every partition
// whose checkpoint is missing. It returns false and registers nothing
// when no checkpoint is missing (someone else finished a rebuild, or Redis
// never lost it).
func (s *Store) BeginRebuild(ctx context.Context, id string) (bool, error) {
	parts := make([]int, 0, 1)
	for p := range s.layout.Partitions() {
		n, err := Library.Call(ctx, s.rdb, "begin_rebuild", []string{s.layout.CheckpointKey(p), s.markerKey(p)},
			id, s.opts.MarkerTTL.Milliseconds()).Int()
		if err != nil {
			_ = s.abandon(ctx, id, parts) // best effort; the markers expire
			return false, fmt.Errorf("store: begin rebuild: %w", err)
		}
		if n == 1 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return false, nil
	}
	s.mu.Lock()
	s.rebuilds[id] = parts
	for _, p := range parts {
		s.rebuildOf[p] = id
	}
	s.mu.Unlock()
	return true, nil
}

// Rebuilding reports whether partition p is being rebuilt by this Store.
func (s *Store) Rebuilding(p int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuildOf[p] != ""
}

// rebuildID returns the rebuild in progress in partition p, or "".
func (s *Store) rebuildID(p int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuildOf[p]
}

// Missing returns the partitions whose checkpoint cps says is missing and
// that no rebuild of this Store covers, and the lowest checkpoint of the
// others (ok false when every partition is missing or being rebuilt).
func (s *Store) Missing(cps []PartitionCheckpoint) (lost []int, lowest uint64, ok bool) {
	for p, cp := range cps {
		switch {
		case s.Rebuilding(p):
		case !cp.OK:
			lost = append(lost, p)
		case !ok || cp.Seq < lowest:
			lowest, ok = cp.Seq, true
		}
	}
	return lost, lowest, ok
}

// RebuildPartitions returns the partitions rebuild id rebuilds.
func (s *Store) RebuildPartitions(id string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuilds[id]
}

// FinishRebuild sets the checkpoint of every partition of rebuild id to
// max(checkpoint, last) and removes id from its marker, atomically per
// partition, if id is still in the marker. Otherwise it returns
// ErrRebuildAborted (the partitions finished before stay finished: their
// data is complete). It returns the lowest checkpoint it set.
func (s *Store) FinishRebuild(ctx context.Context, id string, last uint64) (uint64, error) {
	parts := s.RebuildPartitions(id)
	if len(parts) == 0 {
		return 0, ErrRebuildAborted
	}
	low := uint64(0)
	for i, p := range parts {
		vals, err := Library.Call(ctx, s.rdb, "finish_rebuild", []string{s.layout.CheckpointKey(p), s.markerKey(p)},
			id, strconv.FormatUint(last, 10)).StringSlice()
		if err != nil {
			return 0, fmt.Errorf("store: finish rebuild: %w", err)
		}
		if len(vals) != 2 {
			return 0, fmt.Errorf("store: finish rebuild: unexpected reply %q", vals)
		}
		if vals[0] == "aborted" {
			s.forget(id)
			return 0, ErrRebuildAborted
		}
		cp, err := strconv.ParseUint(vals[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("store: finish rebuild: checkpoint %q: %w", vals[1], err)
		}
		s.raise(p, cp)
		s.mu.Lock()
		delete(s.rebuildOf, p) // normal batches write it normally from now on
		s.mu.Unlock()
		if i == 0 || cp < low {
			low = cp
		}
	}
	s.forget(id)
	return low, nil
}

// AbandonRebuild removes id from the markers (a rebuild that stops early).
func (s *Store) AbandonRebuild(ctx context.Context, id string) error {
	parts := s.RebuildPartitions(id)
	s.forget(id)
	return s.abandon(ctx, id, parts)
}

func (s *Store) abandon(ctx context.Context, id string, parts []int) error {
	for _, p := range parts {
		if err := s.rdb.SRem(ctx, s.markerKey(p), id).Err(); err != nil {
			return fmt.Errorf("store: abandon rebuild: %w", err)
		}
	}
	return nil
}

// ForgetRebuild drops rebuild id without touching Redis (its marker is
// gone: Apply or FinishRebuild returned ErrRebuildAborted): its partitions
// are written normally again, and found missing by the next sync.
func (s *Store) ForgetRebuild(id string) { s.forget(id) }

func (s *Store) forget(id string) {
	s.mu.Lock()
	delete(s.rebuilds, id)
	for p, rid := range s.rebuildOf {
		if rid == id {
			delete(s.rebuildOf, p)
		}
	}
	s.mu.Unlock()
}

// markerKey is partition p's rebuild marker.
func (s *Store) markerKey(p int) string { return s.layout.Tag(p) + KeyRebuildMarker }
