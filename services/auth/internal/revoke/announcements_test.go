package revoke_test

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAnnouncementsSeen(t *testing.T) {
	a := revoke.NewAnnouncements(0, 0, nil)
	seen, changed := a.Seen(5)
	if seen {
		t.Fatal("seen before any announcement")
	}
	a.Record(events.Applied{Ranges: [][2]uint64{{3, 7}}})
	select {
	case <-changed:
	default:
		t.Fatal("Record did not close the changed channel")
	}
	cases := []struct {
		name string
		seq  uint64
		want bool
	}{
		{"BelowRange", 2, false},
		{"First", 3, true},
		{"Inside", 5, true},
		{"Last", 7, true},
		{"AboveRange", 8, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := a.Seen(tc.seq); got != tc.want {
				t.Fatalf("Seen(%d) = %v", tc.seq, got)
			}
		})
	}
}

func TestAnnouncementsForget(t *testing.T) {
	t.Run("AfterRetention", func(t *testing.T) {
		now := time.Unix(1000, 0)
		a := revoke.NewAnnouncements(time.Minute, 0, func() time.Time { return now })
		a.Record(events.Applied{Ranges: [][2]uint64{{1, 1}}})
		now = now.Add(2 * time.Minute)
		a.Record(events.Applied{Ranges: [][2]uint64{{2, 2}}})
		if seen, _ := a.Seen(1); seen {
			t.Fatal("announcement older than the retention still remembered")
		}
		if seen, _ := a.Seen(2); !seen {
			t.Fatal("recent announcement forgotten")
		}
	})
	t.Run("BeyondLimit", func(t *testing.T) {
		a := revoke.NewAnnouncements(0, 3, nil)
		for seq := uint64(1); seq <= 5; seq++ {
			a.Record(events.Applied{Ranges: [][2]uint64{{seq, seq}}})
		}
		for seq, want := range map[uint64]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
			if seen, _ := a.Seen(seq); seen != want {
				t.Errorf("Seen(%d) = %v, want %v", seq, seen, want)
			}
		}
	})
	t.Run("EmptyIgnored", func(t *testing.T) {
		a := revoke.NewAnnouncements(0, 0, nil)
		_, changed := a.Seen(1)
		a.Record(events.Applied{})
		select {
		case <-changed:
			t.Fatal("an empty announcement woke waiters")
		default:
		}
	})
}

func TestAnnouncementsSubscribe(t *testing.T) {
	nt := testkit.StartNATS(t)
	nc := nt.Connect(t)
	a := revoke.NewAnnouncements(0, 0, nil)
	var invalid atomic.Int32
	subConn := nt.Connect(t)
	sub, err := a.Subscribe(subConn, slog.New(slog.NewTextHandler(io.Discard, nil)), func(error) { invalid.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := subConn.Flush(); err != nil { // the server knows the subscription
		t.Fatal(err)
	}
	if err := nc.Publish(events.SubjectApplied, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	body, err := events.EncodeApplied(events.Applied{Ranges: [][2]uint64{{10, 12}}, Checkpoint: 12, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(events.SubjectApplied, body); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "announcement recorded", func() bool {
		seen, _ := a.Seen(11)
		return seen
	})
	if invalid.Load() != 1 {
		t.Fatalf("invalid announcements counted: %d, want 1", invalid.Load())
	}
}
