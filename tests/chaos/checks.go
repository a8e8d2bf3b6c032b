package chaos

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// ttlSlack absorbs the time between the harness reading a TTL and
// computing its bound.
const ttlSlack = 5 * time.Second

// Checkpoint returns revocation:checkpoint (in Cluster layout the lowest
// of the partitions' checkpoints), or -1 when one is missing or unknown.
func (c *Cluster) Checkpoint(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if !c.layout.Partitioned() {
		v, err := c.RDB.Get(ctx, jwtx.KeyCheckpoint).Int64()
		if err != nil {
			return -1
		}
		return v
	}
	pipe := c.RDB.Pipeline()
	cmds := make([]*redis.StringCmd, c.layout.Partitions())
	for p := range cmds {
		cmds[p] = pipe.Get(ctx, c.layout.CheckpointKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return -1
	}
	low := int64(-1)
	for _, cmd := range cmds {
		v, err := cmd.Int64()
		if err != nil {
			return -1
		}
		if low < 0 || v < low {
			low = v
		}
	}
	return low
}

// ConsumerIdle reports whether every revocation consumer (durable
// "revocation") has nothing pending and nothing awaiting an ack.
func (c *Cluster) ConsumerIdle(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cons, err := c.JS.Consumer(ctx, events.StreamName, "revocation")
	if err != nil {
		return false
	}
	info, err := cons.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// StreamLastSeq returns the last sequence of the stream, or 0.
func (c *Cluster) StreamLastSeq(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.JS.Stream(ctx, events.StreamName)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.LastSeq
}

// SubjectCount returns how many messages the stream holds on subject.
func (c *Cluster) SubjectCount(ctx context.Context, subject string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.JS.Stream(ctx, events.StreamName)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	return info.State.Subjects[subject], nil
}

// Settle waits until the system has caught up: the consumer has nothing
// pending (else: a stuck consumer) and the checkpoint has reached the end
// of the stream (else: Redis not rebuilt).
func (c *Cluster) Settle(ctx context.Context, s *Stats, bound time.Duration) {
	start := time.Now()
	err := testkit.Poll(ctx, bound, "revocation consumer drained and checkpoint at the stream's end", func() bool {
		if !c.ConsumerIdle(ctx) {
			return false
		}
		last := c.StreamLastSeq(ctx)
		return last > 0 && c.Checkpoint(ctx) >= int64(last)
	})
	if err != nil {
		s.Violate("stuck consumer: %v (pending after load stopped)", err)
		return
	}
	s.Note("settled %s after load", time.Since(start).Round(time.Millisecond))
}

// CheckRedis checks every acknowledged revocation of the whole run against
// Redis: a token revoked by logout has its blacklist entry, a token revoked
// by logout-all has its user's version above its ver, a token whose
// session was revoked (refresh token reuse) has its session's entry, while
// the token is unexpired; and no entry lives longer than the token it
// protects against (a session's entry: than the longest token lifetime).
func (c *Cluster) CheckRedis(ctx context.Context, o *Oracle, s *Stats) {
	now := time.Now()
	var missing []string
	lost := 0
	toks := o.Snapshot()
	const chunk = 2000
	for i := 0; i < len(toks); i += chunk {
		batch := toks[i:min(i+chunk, len(toks))]
		pipe := c.RDB.Pipeline()
		type probe struct {
			t             *token
			bl, ver, ses  *redis.StringCmd
			blT, vrT, seT *redis.DurationCmd
		}
		var probes []probe
		for _, t := range batch {
			if !t.byLogout.Load() && !t.byAll.Load() && !t.bySession.Load() {
				continue
			}
			if time.Unix(t.Exp, 0).Before(now.Add(ttlSlack)) {
				continue // expired: nothing needs to protect against it
			}
			p := probe{t: t}
			part := c.layout.Partition(t.Sub)
			if t.byLogout.Load() {
				k := c.layout.BlacklistKey(part, t.JTI)
				p.bl, p.blT = pipe.Get(ctx, k), pipe.PTTL(ctx, k)
			}
			if t.byAll.Load() {
				k := c.layout.UserVersionKey(part, t.Sub)
				p.ver, p.vrT = pipe.Get(ctx, k), pipe.PTTL(ctx, k)
			}
			if t.bySession.Load() {
				k := c.layout.SessionKey(part, t.SID)
				p.ses, p.seT = pipe.Get(ctx, k), pipe.PTTL(ctx, k)
			}
			probes = append(probes, p)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			s.Violate("redis check failed: %v", err)
			return
		}
		for _, p := range probes {
			limit := time.Until(time.Unix(p.t.Exp, 0)) + revLeeway + ttlSlack
			if p.bl != nil {
				if p.bl.Err() != nil {
					lost++
					missing = append(missing, "token_blacklist:"+p.t.JTI)
				} else if ttl := p.blT.Val(); ttl <= 0 || ttl > limit {
					s.Violate("token_blacklist:%s TTL %s, token expires in %s", p.t.JTI, ttl, time.Until(time.Unix(p.t.Exp, 0)))
				}
			}
			if p.ses != nil {
				if p.ses.Err() != nil {
					lost++
					missing = append(missing, "session_revoked:"+p.t.SID)
				} else if ttl := p.seT.Val(); ttl <= 0 || ttl > tokenTTL+revLeeway+ttlSlack {
					s.Violate("session_revoked:%s TTL %s, longer than the token lifetime", p.t.SID, ttl)
				}
			}
			if p.ver != nil {
				v, err := strconv.ParseInt(p.ver.Val(), 10, 64)
				if err != nil || v <= p.t.Ver {
					lost++
					missing = append(missing, "user_token_version:"+p.t.Sub+" > "+strconv.FormatInt(p.t.Ver, 10))
				} else if ttl := p.vrT.Val(); ttl <= 0 || ttl > tokenTTL+revLeeway+ttlSlack {
					s.Violate("user_token_version:%s TTL %s, longer than the token lifetime", p.t.Sub, ttl)
				}
			}
		}
	}
	if lost > 0 {
		s.Lost.Add(int64(lost))
		s.Violate("%d acknowledged revocations missing from Redis, e.g. %v", lost, missing[:min(5, len(missing))])
	}
}
