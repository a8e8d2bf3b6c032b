package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/eventjwt/eventjwt/internal/redisfn"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/redis/go-redis/v9"
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
	// Rebuilding is true when some of a normal batch's events went into a
	// partition being rebuilt: they are written, but validators of those
	// users fail closed until the rebuild finishes.
	Rebuilding bool
	// Replicated is true when Options.WaitReplicas is unset or every
	// write of the batch reached that many replicas within WaitTimeout.
	Replicated bool
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

// Apply writes a batch: in the flat layout one function call (atomic, one
// round trip); in the partitioned layout one call per partition the batch
// touches, atomic per partition, pipelined per node. With WaitReplicas,
// each pipeline ends with WAIT. See Mode for what happens to the
// checkpoints: in Normal mode, each partition written gets max(its
// checkpoint, MaxSeq), and must not be below what this Store last wrote
// there (nor, in the flat layout, below Batch.MinCheckpoint). In Rebuild
// mode only the partitions of the rebuild are written. An error other
// than the sentinels is a Redis failure: retrying the same batch is safe
// (a partition already written is written again with no effect).
func (s *Store) Apply(ctx context.Context, b Batch) (Result, error) {
	res := Result{Written: map[string]int{}}
	now := s.opts.Now()
	nowMS := now.UnixMilli()
	n := s.layout.Partitions()
	calls := make([]partitionCall, 0, 1)
	index := make(map[int]int, 1) // partition -> calls index
	var rebuilding map[int]bool
	if b.Mode == Rebuild && s.layout.Partitioned() {
		rebuilding = map[int]bool{}
		for _, p := range s.RebuildPartitions(b.RebuildID) {
			rebuilding[p] = true
		}
	}
	call := func(p int) *partitionCall {
		if i, ok := index[p]; ok {
			return &calls[i]
		}
		c := partitionCall{p: p, keys: make([]string, 2, 2+len(b.Events)), args: make([]any, 4, 4+3*len(b.Events))}
		c.keys[0], c.keys[1] = s.layout.CheckpointKey(p), s.markerKey(p)
		mode, id := b.Mode, b.RebuildID
		if mode == Normal {
			// A partition being rebuilt is written in rebuild mode: its keys
			// now, its checkpoint when the rebuild finishes.
			if rid := s.rebuildID(p); rid != "" {
				mode, id, c.rebuilding = Rebuild, rid, true
			}
		}
		c.args[0] = mode.String()
		if mode == Rebuild {
			c.args[1], c.args[2], c.args[3] = id, "0", s.opts.MarkerTTL.Milliseconds()
		} else {
			c.min = s.floor(p)
			if !s.layout.Partitioned() {
				c.min = max(c.min, b.MinCheckpoint)
			}
			c.args[1], c.args[2], c.args[3] = strconv.FormatUint(c.min, 10), strconv.FormatUint(b.MaxSeq, 10), 0
		}
		index[p] = len(calls)
		calls = append(calls, c)
		return &calls[len(calls)-1]
	}
	if n == 1 {
		call(0) // the flat layout writes its checkpoint even without events
	}
	for _, ev := range b.Events {
		p := s.layout.Partition(ev.UserID)
		if rebuilding != nil && !rebuilding[p] {
			continue // a partition that kept its data
		}
		w, clamped, err := s.writeFor(ev, p, now)
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
		c := call(p)
		c.keys = append(c.keys, w.key)
		c.args = append(c.args, w.kind, w.value, w.pxat)
		res.Written[ev.Type]++
	}
	if len(calls) == 0 {
		res.Replicated = true
		return res, nil
	}
	want, err := s.waitFor(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("store: apply %s batch of %d: %w", b.Mode, len(b.Events), err)
	}
	replicated, err := s.run(ctx, calls, want)
	if err != nil {
		return Result{}, fmt.Errorf("store: apply %s batch of %d: %w", b.Mode, len(b.Events), err)
	}
	res.Replicated = replicated
	first := true
	for _, c := range calls {
		vals, err := c.reply.StringSlice()
		if err == nil && len(vals) != 3 {
			err = fmt.Errorf("unexpected reply %q", vals)
		}
		var prev, cp uint64
		if err == nil {
			if prev, err = strconv.ParseUint(vals[1], 10, 64); err == nil {
				cp, err = strconv.ParseUint(vals[2], 10, 64)
			}
		}
		if err != nil {
			return Result{}, fmt.Errorf("store: apply: partition %d: %w", c.p, err)
		}
		switch vals[0] {
		case "ok":
		case "lost":
			return Result{}, fmt.Errorf("%w (partition %d)", ErrCheckpointLost, c.p)
		case "regressed":
			return Result{Previous: prev, Checkpoint: cp}, fmt.Errorf("%w: partition %d: %d < %d", ErrCheckpointRegressed, c.p, prev, c.min)
		case "aborted":
			return Result{}, ErrRebuildAborted
		default:
			return Result{}, fmt.Errorf("store: apply: unexpected status %q", vals[0])
		}
		res.Rebuilding = res.Rebuilding || c.rebuilding
		if b.Mode == Normal && !c.rebuilding {
			s.raise(c.p, cp)
			if first || prev < res.Previous {
				res.Previous = prev
			}
			res.Checkpoint = max(res.Checkpoint, cp)
			first = false
		}
	}
	return res, nil
}

// partitionCall is the apply call of one partition.
type partitionCall struct {
	fn         string // "" is "apply"
	p          int
	rebuilding bool   // a normal batch's call in rebuild mode (the partition is being rebuilt)
	min        uint64 // Normal mode: the lowest acceptable checkpoint
	keys       []string
	args       []any
	reply      *redis.Cmd
}

// run sends the calls, one pipeline per node (concurrently), each
// followed by WAIT for replicas when positive, and fills in the replies;
// replicated reports whether every WAIT counted enough replicas.
func (s *Store) run(ctx context.Context, calls []partitionCall, replicas int) (replicated bool, err error) {
	groups, err := s.byNode(ctx, calls)
	if err != nil {
		return false, err
	}
	errs := make([]error, len(groups))
	short := make([]bool, len(groups))
	var wg sync.WaitGroup
	for gi, g := range groups {
		wg.Go(func() {
			inv := make([]redisfn.Invocation, len(g.calls))
			for i, ci := range g.calls {
				fn := calls[ci].fn
				if fn == "" {
					fn = "apply"
				}
				inv[i] = redisfn.Invocation{Fn: fn, Keys: calls[ci].keys, Args: calls[ci].args}
			}
			cmds, acked, err := Library.CallAll(ctx, g.client, inv, replicas, s.opts.WaitTimeout)
			switch {
			case err != nil:
				errs[gi] = err
				return
			case replicas > 0 && acked != redisfn.NotChecked && acked < int64(replicas):
				short[gi] = true
			}
			for i, ci := range g.calls {
				calls[ci].reply = cmds[i]
			}
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err != nil {
		if cc, ok := s.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx) // slots may have moved (MOVED); the retry asks again
		}
		return false, err
	}
	return !slices.Contains(short, true), nil
}

// nodeCalls are the calls (indexes) one node serves.
type nodeCalls struct {
	client redisfn.PipelineClient
	calls  []int
}

// byNode groups calls by the node serving their partition: the client
// itself outside Cluster mode, the master of the partition's slot in it.
func (s *Store) byNode(ctx context.Context, calls []partitionCall) ([]nodeCalls, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		all := make([]int, len(calls))
		for i := range calls {
			all[i] = i
		}
		return []nodeCalls{{client: s.rdb, calls: all}}, nil
	}
	var groups []nodeCalls
	at := map[*redis.Client]int{}
	for i, c := range calls {
		node, err := cc.MasterForKey(ctx, c.keys[0])
		if err != nil {
			return nil, fmt.Errorf("master of partition %d: %w", c.p, err)
		}
		gi, ok := at[node]
		if !ok {
			gi = len(groups)
			at[node] = gi
			groups = append(groups, nodeCalls{client: node})
		}
		groups[gi].calls = append(groups[gi].calls, i)
	}
	return groups, nil
}

// writeFor returns the key an event sets, its value and its absolute
// expiry (revocation.Retention.Expiry); clamped reports an expiry cut short.
func (s *Store) writeFor(ev revocation.Event, p int, now time.Time) (w write, clamped bool, err error) {
	at, clamped := s.retention.Expiry(ev, now)
	switch ev.Type {
	case revocation.TypeTokenRevoked:
		w = write{key: s.layout.BlacklistKey(p, ev.JTI), kind: "t", value: BlacklistValue}
	case revocation.TypeSessionRevoked:
		w = write{key: s.layout.SessionKey(p, ev.SessionID), kind: "t", value: BlacklistValue}
	case revocation.TypeUserTokensRevoked:
		w = write{key: s.layout.UserVersionKey(p, ev.UserID), kind: "u", value: strconv.FormatInt(ev.Version, 10)}
	default:
		return write{}, false, fmt.Errorf("store: %w: type %q", revocation.ErrInvalidEvent, ev.Type)
	}
	w.pxat = at.UnixMilli()
	return w, clamped, nil
}

// Heartbeat checks every partition's checkpoint (but those being rebuilt)
// and, when none is missing
// or below what this Store wrote there, raises each to covered and each
// heartbeat to at (Unix milliseconds; at zero leaves the heartbeats).
// covered must be a sequence through which every message of the stream
// is applied (the durable consumer's ack floor), and at a moment by which
// every message then in the stream had a sequence at most covered: the
// heartbeat then promises validators that this Redis holds every
// revocation acknowledged before at. It returns ErrCheckpointLost or
// ErrCheckpointRegressed (naming the partition) instead, writing nothing
// to that partition.
func (s *Store) Heartbeat(ctx context.Context, covered uint64, at time.Time) error {
	n := s.layout.Partitions()
	hb := ""
	if !at.IsZero() {
		hb = strconv.FormatInt(at.UnixMilli(), 10)
	}
	calls := make([]partitionCall, 0, n)
	for p := range n {
		if s.Rebuilding(p) {
			continue // no checkpoint yet, and the heartbeat waits for its data
		}
		min := s.floor(p)
		calls = append(calls, partitionCall{fn: "heartbeat", p: p, min: min,
			keys: []string{s.layout.CheckpointKey(p), s.layout.HeartbeatKey(p)},
			args: []any{strconv.FormatUint(min, 10), strconv.FormatUint(covered, 10), hb}})
	}
	if len(calls) == 0 {
		return nil
	}
	if _, err := s.run(ctx, calls, 0); err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	var errs []error
	for _, c := range calls {
		vals, err := c.reply.StringSlice()
		if err == nil && len(vals) != 2 {
			err = fmt.Errorf("unexpected reply %q", vals)
		}
		var cp uint64
		if err == nil {
			cp, err = strconv.ParseUint(vals[1], 10, 64)
		}
		if err != nil {
			return fmt.Errorf("store: heartbeat: partition %d: %w", c.p, err)
		}
		switch vals[0] {
		case "ok":
			s.raise(c.p, cp)
		case "lost":
			errs = append(errs, fmt.Errorf("%w (partition %d)", ErrCheckpointLost, c.p))
		case "regressed":
			errs = append(errs, fmt.Errorf("%w: partition %d: %d < %d", ErrCheckpointRegressed, c.p, cp, c.min))
		default:
			return fmt.Errorf("store: heartbeat: unexpected status %q", vals[0])
		}
	}
	return errors.Join(errs...)
}
