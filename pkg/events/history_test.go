package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// TestUserRevocations: one user's events, and only theirs, in stream
// order with reason, actor and sequence; paging by sequence; a start time;
// a poison message reported, not hidden; a bad user id refused.
func TestUserRevocations(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	ctx := t.Context()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(js)
	alice, bob := uuid.NewString(), uuid.NewString()
	now := time.Now()
	mine := []events.Event{
		events.TokenRevoked{UserID: alice, JTI: uuid.NewString(), ExpiresAt: now.Add(time.Minute), Reason: events.ReasonLogout, Actor: events.UserActor(alice)}.Event(now),
		events.SessionRevoked{UserID: alice, SessionID: uuid.NewString(), ExpiresAt: now.Add(time.Minute), Reason: events.ReasonRefreshTokenReuse, Actor: events.SystemActor("auth")}.Event(now),
		events.UserTokensRevoked{UserID: alice, Version: 3, Reason: events.ReasonLogoutAll, Actor: events.UserActor(alice)}.Event(now),
		events.SessionRevoked{UserID: alice, SessionID: uuid.NewString(), ExpiresAt: now.Add(time.Minute), Reason: events.ReasonAdmin, Actor: events.ClientActor("ops")}.Event(now),
	}
	var seqs []uint64
	for i, ev := range mine {
		// bob's events interleave alice's.
		if _, err := pub.Publish(ctx, events.UserTokensRevoked{UserID: bob, Version: int64(i + 1), Reason: events.ReasonLogoutAll}.Event(now)); err != nil {
			t.Fatal(err)
		}
		ack, err := pub.Publish(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	// A body on alice's subject that is not an event: stored, never applied.
	if _, err := js.Publish(ctx, events.SubjectTokenPrefix+alice, []byte(`{"type":"token.revoked"}`)); err != nil {
		t.Fatal(err)
	}

	recs, more, err := events.UserRevocations(ctx, js, alice, events.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if more || len(recs) != len(mine)+1 {
		t.Fatalf("%d records (more %v), want %d", len(recs), more, len(mine)+1)
	}
	for i, ev := range mine {
		r := recs[i]
		if r.Err != nil || r.Sequence != seqs[i] || r.Event.ID != ev.ID || r.Event.Reason != ev.Reason ||
			r.Event.Actor != ev.Actor || r.Subject != ev.Subject() || r.Stored.IsZero() || !r.Event.OccurredAt.Equal(ev.OccurredAt) {
			t.Errorf("record %d = %+v, want event %+v at seq %d", i, r, ev, seqs[i])
		}
	}
	if last := recs[len(recs)-1]; !errors.Is(last.Err, events.ErrInvalidEvent) {
		t.Errorf("poison message record %+v, want ErrInvalidEvent", last)
	}

	page, more, err := events.UserRevocations(ctx, js, alice, events.HistoryOptions{Limit: 2})
	if err != nil || !more || len(page) != 2 || page[1].Sequence != seqs[1] {
		t.Fatalf("first page: %d records, more %v, err %v", len(page), more, err)
	}
	page, more, err = events.UserRevocations(ctx, js, alice, events.HistoryOptions{AfterSequence: page[1].Sequence, Limit: 2})
	if err != nil || !more || len(page) != 2 || page[0].Sequence != seqs[2] || page[1].Sequence != seqs[3] {
		t.Fatalf("second page: %+v, more %v, err %v", page, more, err)
	}

	future, more, err := events.UserRevocations(ctx, js, alice, events.HistoryOptions{Since: time.Now().Add(time.Hour)})
	if err != nil || more || len(future) != 0 {
		t.Fatalf("history since an hour from now: %d records, more %v, err %v", len(future), more, err)
	}
	nobody, _, err := events.UserRevocations(ctx, js, uuid.NewString(), events.HistoryOptions{})
	if err != nil || len(nobody) != 0 {
		t.Fatalf("a user without revocations: %d records, %v", len(nobody), err)
	}
	for _, bad := range []string{"", "alice", "revocation.>", alice + ".x", "*"} {
		if _, _, err := events.UserRevocations(ctx, js, bad, events.HistoryOptions{}); !errors.Is(err, events.ErrBadUserID) {
			t.Errorf("user id %q: %v, want ErrBadUserID", bad, err)
		}
	}
	if _, _, err := events.UserRevocations(ctx, js, alice, events.HistoryOptions{Limit: events.MaxHistoryLimit + 1}); err == nil {
		t.Error("a limit above MaxHistoryLimit was accepted")
	}
}
