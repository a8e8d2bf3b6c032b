package app

import (
	"testing"
	"time"
)

func TestParseRetiredKeys(t *testing.T) {
	got, err := parseRetiredKeys(" /k/a.pem@2026-11-26T10:00:00Z, /k/b@c.pem@2026-11-26T11:00:00+01:00 ,")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "/k/a.pem" || got[1].Path != "/k/b@c.pem" ||
		!got[1].RetiredAt.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{"/k/a.pem", "@2026-11-26T10:00:00Z", "/k/a.pem@yesterday"} {
		if _, err := parseRetiredKeys(bad); err == nil {
			t.Errorf("parseRetiredKeys(%q) accepted", bad)
		}
	}
}
