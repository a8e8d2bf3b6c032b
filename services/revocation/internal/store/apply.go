package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Mode selects how Apply treats the checkpoint.
type Mode int

const (
	// Normal writes the events and raises the checkpoint to Batch.MaxSeq.
	// It writes nothing and returns ErrCheckpointLost when the checkpoint is
	// missing, or ErrCheckpointRegressed when it is below
	// Batch.MinCheckpoint.
	Normal Mode = iota
	// Rebuild writes the events but never the checkpoint, and only while
	// Batch.RebuildID is in the rebuild marker (else ErrRebuildAborted).
	Rebuild
)

// String returns "normal" or "rebuild".
func (m Mode) String() string {
	if m == Rebuild {
		return "rebuild"
	}
	return "normal"
}

// Batch is one Apply call.
type Batch struct {
	Mode Mode
	// Events are applied in order. Invalid events must be filtered out
	// before; expired ones are skipped here.
	Events []revocation.Event
	// MaxSeq is the highest stream sequence the batch covers (Normal).
	MaxSeq uint64
	// MinCheckpoint is the checkpoint this process last wrote (Normal).
	MinCheckpoint uint64
	// RebuildID identifies the rebuild (Rebuild).
	RebuildID string
}

// Result reports what Apply did.
type Result struct {
	// Previous and Checkpoint are the checkpoint before and after the write
	// (Normal mode; with ErrCheckpointRegressed, both are the stored value).
	Previous, Checkpoint uint64
	// Written counts the events sent to Redis, by event type. A duplicate
	// or lower version is counted too: it was applied, with no effect.
	Written map[string]int
	// Expired counts the events skipped because their expiry has passed.
	Expired int
	// Clamped counts the events whose expiry was cut to the longest token
	// lifetime (revocation.Retention.Expiry): an issuer whose tokens outlive
	// REVOCATION_MAX_TOKEN_TTL, or a forged expires_at.
	Clamped int
}

// BlacklistValue is the value of every token_blacklist key: a small
// marker, since validators only ask whether the key exists and the event
// itself stays in the stream (revocation.BlacklistValue).
const BlacklistValue = revocation.BlacklistValue

// write is one key to set.
type write struct {
	key, kind, value string
	pxat             int64 // Unix milliseconds
}

// Apply writes a batch with one function call (atomic, one round trip).
// See Mode for what happens to the checkpoint. An error other than the
// sentinels is a Redis failure: retrying the same batch is safe.
func (s *Store) Apply(ctx context.Context, b Batch) (Result, error) {
	res := Result{Written: map[string]int{}}
	now := s.opts.Now()
	nowMS := now.UnixMilli()
	keys := make([]string, 2, 2+len(b.Events))
	keys[0], keys[1] = KeyCheckpoint, KeyRebuildMarker
	args := make([]any, 4, 4+3*len(b.Events))
	args[0] = b.Mode.String()
	if b.Mode == Rebuild {
		args[1], args[2], args[3] = b.RebuildID, "0", s.opts.MarkerTTL.Milliseconds()
	} else {
		args[1], args[2], args[3] = strconv.FormatUint(b.MinCheckpoint, 10), strconv.FormatUint(b.MaxSeq, 10), 0
	}
	for _, ev := range b.Events {
		w, clamped, err := s.writeFor(ev, now)
		if err != nil {
			return res, err
		}
		if w.pxat <= nowMS {
			res.Expired++
			continue
		}
		if clamped {
			res.Clamped++
		}
		keys = append(keys, w.key)
		args = append(args, w.kind, w.value, w.pxat)
		res.Written[ev.Type]++
	}
	vals, err := Library.Call(ctx, s.rdb, "apply", keys, args...).StringSlice()
	if err != nil {
		return Result{}, fmt.Errorf("store: apply %s batch of %d: %w", b.Mode, len(b.Events), err)
	}
	if len(vals) != 3 {
		return Result{}, fmt.Errorf("store: apply: unexpected reply %q", vals)
	}
	if res.Previous, err = strconv.ParseUint(vals[1], 10, 64); err == nil {
		res.Checkpoint, err = strconv.ParseUint(vals[2], 10, 64)
	}
	if err != nil {
		return Result{}, fmt.Errorf("store: apply: unexpected reply %q: %w", vals, err)
	}
	switch vals[0] {
	case "ok":
		return res, nil
	case "lost":
		return Result{}, ErrCheckpointLost
	case "regressed":
		return Result{Previous: res.Previous, Checkpoint: res.Checkpoint}, fmt.Errorf("%w: %d < %d", ErrCheckpointRegressed, res.Previous, b.MinCheckpoint)
	case "aborted":
		return Result{}, ErrRebuildAborted
	default:
		return Result{}, fmt.Errorf("store: apply: unexpected status %q", vals[0])
	}
}

// writeFor returns the key an event sets, its value and its absolute
// expiry (revocation.Retention.Expiry); clamped reports an expiry cut short.
func (s *Store) writeFor(ev revocation.Event, now time.Time) (w write, clamped bool, err error) {
	at, clamped := s.retention.Expiry(ev, now)
	switch ev.Type {
	case revocation.TypeTokenRevoked:
		w = write{key: KeyPrefixTokenBlacklist + ev.JTI, kind: "t", value: BlacklistValue}
	case revocation.TypeSessionRevoked:
		w = write{key: KeyPrefixSessionRevoked + ev.SessionID, kind: "t", value: BlacklistValue}
	case revocation.TypeUserTokensRevoked:
		w = write{key: KeyPrefixUserTokenVersion + ev.UserID, kind: "u", value: strconv.FormatInt(ev.Version, 10)}
	default:
		return write{}, false, fmt.Errorf("store: %w: type %q", revocation.ErrInvalidEvent, ev.Type)
	}
	w.pxat = at.UnixMilli()
	return w, clamped, nil
}
