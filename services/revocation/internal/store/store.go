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
	"time"

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
	// KeyRebuildMarker is internal to this service: the set of ids of the
	// rebuilds in progress. A flush removes it, which tells a running
	// rebuild that what it wrote so far is gone.
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
}

// Store writes revocations into Redis. It is safe for concurrent use.
type Store struct {
	rdb       redis.Cmdable
	opts      Options
	retention revocation.Retention
}

// New returns a Store on rdb.
func New(rdb redis.Cmdable, opts Options) *Store {
	if opts.MarkerTTL <= 0 {
		opts.MarkerTTL = DefaultMarkerTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{rdb: rdb, opts: opts, retention: revocation.Retention{MaxTokenTTL: opts.MaxTokenTTL, Leeway: opts.Leeway}}
}

// Checkpoint returns the stored checkpoint; ok is false when it is missing.
func (s *Store) Checkpoint(ctx context.Context) (seq uint64, ok bool, err error) {
	v, err := s.rdb.Get(ctx, KeyCheckpoint).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: read checkpoint: %w", err)
	}
	seq, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		// Not something this service wrote; the next write replaces it.
		return 0, true, nil
	}
	return seq, true, nil
}

// BeginRebuild registers rebuild id in the marker, unless the checkpoint
// exists (someone else finished a rebuild, or Redis never lost it): then it
// returns false and registers nothing.
func (s *Store) BeginRebuild(ctx context.Context, id string) (bool, error) {
	n, err := Library.Call(ctx, s.rdb, "begin_rebuild", []string{KeyCheckpoint, KeyRebuildMarker},
		id, s.opts.MarkerTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: begin rebuild: %w", err)
	}
	return n == 1, nil
}

// FinishRebuild sets the checkpoint to max(checkpoint, last) and removes id
// from the marker, atomically, if id is still in the marker. Otherwise it
// returns ErrRebuildAborted and writes nothing.
func (s *Store) FinishRebuild(ctx context.Context, id string, last uint64) (uint64, error) {
	vals, err := Library.Call(ctx, s.rdb, "finish_rebuild", []string{KeyCheckpoint, KeyRebuildMarker},
		id, strconv.FormatUint(last, 10)).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("store: finish rebuild: %w", err)
	}
	if len(vals) != 2 {
		return 0, fmt.Errorf("store: finish rebuild: unexpected reply %q", vals)
	}
	if vals[0] == "aborted" {
		return 0, ErrRebuildAborted
	}
	cp, err := strconv.ParseUint(vals[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: finish rebuild: checkpoint %q: %w", vals[1], err)
	}
	return cp, nil
}

// AbandonRebuild removes id from the marker (a rebuild that stops early).
func (s *Store) AbandonRebuild(ctx context.Context, id string) error {
	if err := s.rdb.SRem(ctx, KeyRebuildMarker, id).Err(); err != nil {
		return fmt.Errorf("store: abandon rebuild: %w", err)
	}
	return nil
}
