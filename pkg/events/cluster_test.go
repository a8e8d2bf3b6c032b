package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// TestEnsureStreamCluster: on a cluster an unset Replicas creates nothing
// and says why; an explicit 1 or 3 is honoured; an existing stream with
// fewer replicas is raised by EnsureStream and refused by CheckStream.
func TestEnsureStreamCluster(t *testing.T) {
	c := testkit.StartNATSCluster(t, 3)
	js := c.JetStream(t)
	base := events.StreamConfig{MinMaxAge: time.Hour}
	with := func(replicas int) events.StreamConfig {
		cfg := base
		cfg.Replicas = replicas
		return cfg
	}
	reset := func(t *testing.T) {
		t.Helper()
		err := js.DeleteStream(t.Context(), events.StreamName)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
	}
	replicas := func(t *testing.T, s jetstream.Stream) int {
		t.Helper()
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info.Config.Replicas
	}

	t.Run("ErrReplicasUnset", func(t *testing.T) {
		reset(t)
		cfg := base
		cfg.ReplicasSetting = "X_STREAM_REPLICAS"
		_, err := events.EnsureStream(t.Context(), js, cfg)
		if !errors.Is(err, events.ErrReplicasUnset) || !errors.Is(err, events.ErrStreamMisconfigured) {
			t.Fatalf("EnsureStream unset on a cluster: %v, want ErrReplicasUnset (an ErrStreamMisconfigured)", err)
		}
		for _, want := range []string{`"testkit", 3 servers`, "set X_STREAM_REPLICAS=3, or =1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message does not say %q: %v", want, err)
			}
		}
		if _, err := js.Stream(t.Context(), events.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("stream after a refused EnsureStream: %v, want not found", err)
		}
	})
	t.Run("ExplicitOne", func(t *testing.T) {
		reset(t)
		s, err := events.EnsureStream(t.Context(), js, with(1))
		if err != nil {
			t.Fatal(err)
		}
		if got := replicas(t, s); got != 1 {
			t.Fatalf("replicas %d, want 1", got)
		}
		// The unset setting still refuses the single copy that now exists.
		if _, err := events.CheckStream(t.Context(), js, base); !errors.Is(err, events.ErrReplicasUnset) {
			t.Fatalf("CheckStream unset on an R1 stream: %v, want ErrReplicasUnset", err)
		}
	})
	t.Run("RaiseToThree", func(t *testing.T) {
		reset(t)
		if _, err := events.EnsureStream(t.Context(), js, with(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := events.CheckStream(t.Context(), js, with(3)); !errors.Is(err, events.ErrStreamMisconfigured) {
			t.Fatalf("CheckStream R3 on an R1 stream: %v, want ErrStreamMisconfigured", err)
		}
		s, err := events.EnsureStream(t.Context(), js, with(3))
		if err != nil {
			t.Fatal(err)
		}
		if got := replicas(t, s); got != 3 {
			t.Fatalf("replicas after EnsureStream R3: %d, want 3", got)
		}
		// More copies than asked, or an unset setting, keep the stream as is.
		for _, cfg := range []events.StreamConfig{with(1), base} {
			s, err := events.CheckStream(t.Context(), js, cfg)
			if err != nil {
				t.Fatalf("CheckStream %d replicas on an R3 stream: %v", cfg.Replicas, err)
			}
			if got := replicas(t, s); got != 3 {
				t.Fatalf("replicas %d, want 3", got)
			}
		}
	})
}

// TestEnsureStreamSingleServer: an unset Replicas is 1 on a server that is
// not part of a cluster, and no cluster is reported.
func TestEnsureStreamSingleServer(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	if name, n := events.Clustered(js.Conn()); name != "" || n != 0 {
		t.Fatalf("Clustered on a single server: %q, %d", name, n)
	}
	s, err := events.EnsureStream(t.Context(), js, events.StreamConfig{MinMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Replicas; got != 1 {
		t.Fatalf("replicas %d, want 1", got)
	}
}

// TestStreamLeaderKilled: at R3, killing the stream leader while
// publishing loses no acknowledged event; publishes fail (and are retried)
// only while a new leader is elected.
func TestStreamLeaderKilled(t *testing.T) {
	c := testkit.StartNATSCluster(t, 3)
	js := c.JetStream(t)
	ctx := t.Context()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js)
	acked := map[uint64]string{}
	var failed int
	publish := func() {
		ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		ack, err := pub.Publish(pctx, ev)
		if err != nil {
			failed++
			return
		}
		acked[ack.Sequence] = ev.ID
	}
	for range 20 {
		publish()
	}
	leader := c.KillStreamLeader(t, events.StreamName)
	start := time.Now()
	// Publish until one succeeds after the kill, then a few more.
	for before := len(acked); len(acked) < before+20; {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no publish acknowledged 30s after the stream leader %s was killed", leader.Name())
		}
		publish()
	}
	t.Logf("leader %s killed: %d publishes failed, %s until 20 more were acknowledged", leader.Name(), failed, time.Since(start).Round(time.Millisecond))
	leader.Restart(t)
	c.WaitStreamLeader(t, events.StreamName)

	stream, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	for seq, id := range acked {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("acknowledged sequence %d: %v", seq, err)
		}
		if got := raw.Header.Get(jetstream.MsgIDHeader); got != id {
			t.Fatalf("sequence %d holds %q, acknowledged as %q", seq, got, id)
		}
	}
}
