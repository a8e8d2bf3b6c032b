package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// staleness is the validators' allowed heartbeat age
// (jwtx.RedisStoreOptions.MaxStaleness by default): the documented bound
// on how long a 202'd revocation may go unenforced when a Redis failover
// loses it.
const staleness = 30 * time.Second

// activeRevocation returns the index of the one running revocation
// service that says it holds the pin (revocation_active 1), waiting until
// exactly one does.
func (e *env) activeRevocation(ctx context.Context, timeout time.Duration) (int, error) {
	active := -1
	err := testkit.Poll(ctx, timeout, "exactly one revocation service active", func() bool {
		active = -1
		n := 0
		for i, p := range e.c.Rev {
			if p.Running() && scrape(ctx, e.c.RevMetricsURL[i], "revocation_active") == 1 {
				active, n = i, n+1
			}
		}
		return n == 1
	})
	return active, err
}

// takeover waits until standby says it is active and Redis's checkpoint
// has moved past from, and returns how long that took since t0.
func (e *env) takeover(ctx context.Context, standby int, from int64, t0 time.Time) (time.Duration, error) {
	err := testkit.Poll(ctx, 60*time.Second, fmt.Sprintf("revocation-%d takes over and writes", standby), func() bool {
		return scrape(ctx, e.c.RevMetricsURL[standby], "revocation_active") == 1 && e.c.Checkpoint(ctx) > from
	})
	return time.Since(t0), err
}

// killActiveRevocation starts a standby beside the running revocation
// service, kills the active one with SIGKILL under load and times the
// standby's takeover (REVOCATION_PINNED_TTL, 5 s by default); then starts
// the killed one again (a standby now) and stops the active one cleanly,
// which hands over at once.
func killActiveRevocation(ctx context.Context, e *env) error {
	if _, err := e.c.StartExtraRevocation(ctx); err != nil {
		return fmt.Errorf("start the standby: %w", err)
	}
	active, err := e.activeRevocation(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	standby := -1
	for i, p := range e.c.Rev {
		if i != active && p.Running() {
			standby = i
		}
	}
	from := e.c.Checkpoint(ctx)
	t0 := time.Now()
	e.c.Rev[active].Kill()
	killed, err := e.takeover(ctx, standby, from, t0)
	if err != nil {
		return fmt.Errorf("after kill -9 of revocation-%d: %w", active, err)
	}
	e.o.FaultEnds() // the 202 budget runs from the takeover
	e.o.FaultBegins()
	if err := e.restartRevocation(ctx, active); err != nil {
		return err
	}
	from = e.c.Checkpoint(ctx)
	t0 = time.Now()
	if err := e.c.Rev[standby].Stop(); err != nil {
		return fmt.Errorf("clean stop of revocation-%d: %w", standby, err)
	}
	clean, err := e.takeover(ctx, active, from, t0)
	if err != nil {
		return fmt.Errorf("after a clean stop of revocation-%d: %w", standby, err)
	}
	e.s.Note("standby took over (active and writing) %s after kill -9 of the active service (REVOCATION_PINNED_TTL 5s), %s after a clean stop",
		killed.Round(time.Millisecond), clean.Round(time.Millisecond))
	return nil
}

// sentinelFailover runs the services and validators on the Sentinel URL
// and, under load, asks the sentinels for a failover (SENTINEL FAILOVER),
// lets the load run, then kills the new primary with SIGKILL and starts it
// again once a replica is promoted (it comes back empty, as a replica).
func sentinelFailover(ctx context.Context, e *env) error {
	rs := e.c.Sentinel
	t0 := time.Now()
	if err := guard("SENTINEL FAILOVER", func() { rs.Failover(e.c.tb) }); err != nil {
		return err
	}
	failover := time.Since(t0)
	if err := guard("replicas in sync after the failover", func() { rs.WaitReplicas(e.c.tb) }); err != nil {
		return err
	}
	pause(ctx, e.cfg.Hold)
	t1 := time.Now()
	var killed *testkit.Redis
	if err := guard("kill the primary", func() { killed = rs.KillMaster(e.c.tb) }); err != nil {
		return err
	}
	promoted := time.Since(t1)
	if err := killed.Start(ctx); err != nil {
		return fmt.Errorf("restart the killed primary: %w", err)
	}
	if err := guard("replicas in sync after the restart", func() { rs.WaitReplicas(e.c.tb) }); err != nil {
		return err
	}
	e.s.Note("SENTINEL FAILOVER: new primary agreed after %s; kill -9 of the primary: replica promoted after %s (down-after 1s)",
		failover.Round(time.Millisecond), promoted.Round(time.Millisecond))
	return e.recovered(ctx)
}

// redisClusterKillMaster kills, under load, the Redis Cluster master that
// serves partition 0 with SIGKILL, waits until its replica serves its
// slots, and starts the killed node again (it rejoins as a replica).
func redisClusterKillMaster(ctx context.Context, e *env) error {
	rc := e.c.RCluster
	var node *testkit.Redis
	if err := guard("master of partition 0", func() { node = rc.MasterOf(e.c.tb, e.c.layout.CheckpointKey(0)) }); err != nil {
		return err
	}
	t0 := time.Now()
	if err := guard("kill a master", func() { rc.KillMaster(e.c.tb, node) }); err != nil {
		return err
	}
	promoted := time.Since(t0)
	pause(ctx, e.cfg.Hold)
	if err := node.Start(ctx); err != nil {
		return fmt.Errorf("restart the killed master: %w", err)
	}
	if err := guard("cluster healthy after the restart", func() { rc.WaitHealthy(e.c.tb) }); err != nil {
		return err
	}
	e.s.Note("kill -9 of the master of %s: its replica served the slots and the cluster said ok after %s (cluster-node-timeout 1s)",
		e.c.layout.CheckpointKey(0), promoted.Round(time.Millisecond))
	// Validators and services must serve the moved partitions again.
	return e.recovered(ctx)
}

// streamInfo returns the REVOCATIONS stream's info, or nil.
func (c *Cluster) streamInfo(ctx context.Context) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.JS.Stream(ctx, events.StreamName)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// natsStreamLeaderKilled kills, under load, the natsd process leading the
// REVOCATIONS stream (R3) with SIGKILL, times the election of a new
// leader, and starts the killed server again on its store; the stream
// must have three current replicas again.
func natsStreamLeaderKilled(ctx context.Context, e *env) error {
	var leader string
	if err := testkit.Poll(ctx, 30*time.Second, "the stream has a leader and 3 current replicas", func() bool {
		info := e.c.streamInfo(ctx)
		if info == nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != e.c.topo.NATSNodes-1 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		leader = info.Cluster.Leader
		return true
	}); err != nil {
		return err
	}
	k := -1
	for i, n := range e.c.NATSNames {
		if n == leader {
			k = i
		}
	}
	if k < 0 {
		return fmt.Errorf("stream leader %q is none of %v", leader, e.c.NATSNames)
	}
	if info := e.c.streamInfo(ctx); info == nil || info.Config.Replicas != e.c.topo.NATSNodes {
		return errors.New("the stream is not at R3")
	}
	t0 := time.Now()
	e.c.NATSNodes[k].Kill() // SIGKILL
	var newLeader string
	if err := testkit.Poll(ctx, 60*time.Second, "a new stream leader", func() bool {
		info := e.c.streamInfo(ctx)
		if info != nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader {
			newLeader = info.Cluster.Leader
			return true
		}
		return false
	}); err != nil {
		return err
	}
	elected := time.Since(t0)
	pause(ctx, e.cfg.Hold)
	if err := e.c.NATSNodes[k].Start(); err != nil {
		return err
	}
	t1 := time.Now()
	if err := testkit.Poll(ctx, 60*time.Second, "the killed server's replica current again", func() bool {
		info := e.c.streamInfo(ctx)
		if info == nil || info.Cluster == nil || len(info.Cluster.Replicas) != e.c.topo.NATSNodes-1 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	e.s.Note("kill -9 of stream leader %s: %s elected after %s; the restarted server's replica current %s after its start",
		leader, newLeader, elected.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	for _, u := range append(append([]string{}, e.c.AuthURLs...), e.c.RevURL...) {
		if err := e.c.WaitReady(ctx, u+"/readyz", 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// authReplicaKilled kills, under load spread over two auth replicas on
// one PostgreSQL, the first replica with SIGKILL; the load goes on through
// the other (as behind a load balancer), and the killed one is started
// again. Requests in flight to the killed one fail in transport (not
// counted as answers); no answer may be a 5xx but a logout's 503.
func authReplicaKilled(ctx context.Context, e *env) error {
	before := make([]float64, len(e.c.Auths))
	for i := range e.c.Auths {
		before[i] = e.authRequests(ctx, i)
	}
	if before[0] <= 0 || before[1] <= 0 {
		e.s.Violate("the load did not reach both auth replicas before the kill: %v requests", before)
	}
	e.c.Auths[0].Kill()
	pause(ctx, e.cfg.Hold)
	if err := e.c.Auths[0].Start(); err != nil {
		return err
	}
	if err := e.c.WaitReady(ctx, e.c.AuthURLs[0]+"/readyz", 60*time.Second); err != nil {
		return err
	}
	pause(ctx, e.cfg.Tail)
	var served []string
	for i := range e.c.Auths {
		n := e.authRequests(ctx, i)
		if i == 0 {
			served = append(served, fmt.Sprintf("auth-0 %.0f since its restart", n))
			continue
		}
		served = append(served, fmt.Sprintf("auth-%d %.0f since the kill", i, n-before[i]))
	}
	e.s.Note("auth-0 killed for %s; requests answered: %s", e.cfg.Hold, strings.Join(served, ", "))
	return nil
}

// authRequests returns auth replica i's count of HTTP requests answered
// (http_requests_total on its metrics listener; -1 when unknown, 0 for a
// replica restarted since).
func (e *env) authRequests(ctx context.Context, i int) float64 {
	return scrape(ctx, e.c.authMetricsURL(i), "auth_http_requests_total")
}
