package revocation

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Applied is the announcement the revocation service publishes on
// SubjectApplied (core NATS) after writing events to Redis: the stream
// sequences whose effect is now visible to every validator. The auth service
// waits for the sequence of its PubAck to appear before answering 204.
type Applied struct {
	// Ranges are inclusive [first, last] runs of applied stream sequences.
	Ranges [][2]uint64 `json:"ranges"`
	// Checkpoint is the revocation:checkpoint value after the write.
	Checkpoint uint64 `json:"checkpoint"`
	// At is when the write completed.
	At time.Time `json:"at"`
}

// Contains reports whether seq is in one of the ranges.
func (a Applied) Contains(seq uint64) bool {
	for _, r := range a.Ranges {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// RangesOf folds sequences into sorted, inclusive runs.
func RangesOf(seqs []uint64) [][2]uint64 {
	if len(seqs) == 0 {
		return nil
	}
	s := slices.Clone(seqs)
	slices.Sort(s)
	out := [][2]uint64{{s[0], s[0]}}
	for _, q := range s[1:] {
		last := &out[len(out)-1]
		if q <= last[1]+1 {
			last[1] = max(last[1], q)
			continue
		}
		out = append(out, [2]uint64{q, q})
	}
	return out
}

// EncodeApplied returns the JSON body of an announcement.
func EncodeApplied(a Applied) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("revocation: encode applied: %w", err)
	}
	return b, nil
}

// DecodeApplied parses an announcement.
func DecodeApplied(data []byte) (Applied, error) {
	var a Applied
	if len(data) > 1<<20 {
		return a, fmt.Errorf("%w: applied announcement too large", ErrInvalidEvent)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return Applied{}, fmt.Errorf("%w: applied announcement: %w", ErrInvalidEvent, err)
	}
	return a, nil
}
