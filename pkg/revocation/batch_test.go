package revocation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

func TestDecodeBatch(t *testing.T) {
	tok := revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(time.Hour)}.Event(now)
	usr := revocation.UserTokensRevoked{UserID: user, Version: 2}.Event(now)
	tokBody, err := revocation.Encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	usrBody, err := revocation.Encode(usr)
	if err != nil {
		t.Fatal(err)
	}
	newer := `{"schema_version":9}`
	msgs := []revocation.Message{
		{Subject: tok.Subject(), Data: tokBody, Seq: 3},
		{Subject: tok.Subject(), Data: []byte("{"), Seq: 4},
		{Subject: usr.Subject(), Data: tokBody, Seq: 5},
		{Subject: usr.Subject(), Data: usrBody, Seq: 6},
		{Subject: usr.Subject(), Data: []byte(newer), Seq: 7},
	}
	evs, invalid := revocation.DecodeBatch(msgs)
	type got struct {
		Index int
		Seq   uint64
		ID    string
	}
	var gotEvs []got
	for _, d := range evs {
		if d.Subject != msgs[d.Index].Subject {
			t.Errorf("event %d: subject %q, want %q", d.Index, d.Subject, msgs[d.Index].Subject)
		}
		gotEvs = append(gotEvs, got{d.Index, d.Seq, d.Event.ID})
	}
	if diff := cmp.Diff([]got{{0, 3, tok.ID}, {3, 6, usr.ID}}, gotEvs); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	cases := []struct {
		index  int
		seq    uint64
		err    error
		reason string
	}{
		{1, 4, revocation.ErrInvalidEvent, revocation.ReasonInvalid},
		{2, 5, revocation.ErrSubjectMismatch, revocation.ReasonSubjectMismatch},
		{4, 7, revocation.ErrUnsupportedSchema, revocation.ReasonUnsupportedSchema},
	}
	if len(invalid) != len(cases) {
		t.Fatalf("invalid = %v, want %d reports", invalid, len(cases))
	}
	for i, c := range cases {
		inv := invalid[i]
		if inv.Index != c.index || inv.Seq != c.seq || inv.Subject != msgs[c.index].Subject || !errors.Is(inv.Err, c.err) || inv.Reason() != c.reason {
			t.Errorf("invalid[%d] = %+v (reason %q), want index %d seq %d wrapping %v (%q)", i, inv, inv.Reason(), c.index, c.seq, c.err, c.reason)
		}
	}
}

func TestDecodeBatchEmpty(t *testing.T) {
	evs, invalid := revocation.DecodeBatch(nil)
	if len(evs) != 0 || invalid != nil {
		t.Fatalf("DecodeBatch(nil) = %v, %v", evs, invalid)
	}
}

func TestKeys(t *testing.T) {
	if got, want := revocation.BlacklistKey(jti), "token_blacklist:"+jti; got != want {
		t.Errorf("BlacklistKey = %q, want %q", got, want)
	}
	if got, want := revocation.UserVersionKey(user), "user_token_version:"+user; got != want {
		t.Errorf("UserVersionKey = %q, want %q", got, want)
	}
	if revocation.KeyCheckpoint != "revocation:checkpoint" || revocation.BlacklistValue != "1" {
		t.Errorf("KeyCheckpoint %q, BlacklistValue %q", revocation.KeyCheckpoint, revocation.BlacklistValue)
	}
}

// uuidSink keeps IsUUID's result alive in the allocation count.
var uuidSink bool

func TestIsUUID(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		want bool
	}{
		{"Canonical", "0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f", true},
		{"Nil", "00000000-0000-0000-0000-000000000000", true},
		{"UpperCase", "0B9A4C1E-6C1F-4F7E-9A53-8B1F3C2D4E5F", false},
		{"NoHyphens", "0b9a4c1e6c1f4f7e9a538b1f3c2d4e5f", false},
		{"Braces", "{0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f}", false},
		{"URN", "urn:uuid:0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f", false},
		{"HyphenMoved", "0b9a4c1e6-c1f-4f7e-9a53-8b1f3c2d4e5f", false},
		{"NotHex", "0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5g", false},
		{"Empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := revocation.IsUUID(tc.s); got != tc.want {
				t.Fatalf("IsUUID(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { uuidSink = revocation.IsUUID(user) }); n != 0 {
		t.Errorf("IsUUID allocates %v times", n)
	}
}
