package jwtxtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

const user = "0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70"

func TestKit(t *testing.T) {
	kit := jwtxtest.New(t, jwtxtest.WithIssuer("iss"), jwtxtest.WithAudience("aud"))
	store := jwtxtest.NewMemoryStore()
	v := kit.Validator(t, store)
	c, err := v.Validate(context.Background(), kit.Token(t, user, 2))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != user || c.Version != 2 || c.Issuer != "iss" {
		t.Errorf("claims %+v", c)
	}
	s, keys := jwtxtest.NewSigner(t)
	if _, ok := keys.Lookup(s.KeyID()); !ok {
		t.Error("NewSigner's key set lacks its key")
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	var m jwtxtest.MemoryStore // the zero value is ready
	st, err := m.RevocationState(ctx, jwtx.RevocationQuery{JTI: "j", UserID: user})
	if err != nil || st != (jwtx.RevocationState{Initialized: true}) {
		t.Fatalf("zero store: %+v, %v", st, err)
	}
	m.RevokeToken("j")
	m.SetUserVersion(user, 4)
	st, _ = m.RevocationState(ctx, jwtx.RevocationQuery{JTI: "j", UserID: user})
	if st != (jwtx.RevocationState{Initialized: true, TokenRevoked: true, UserVersion: 4}) {
		t.Errorf("state %+v", st)
	}
	if st, _ = m.RevocationState(ctx, jwtx.RevocationQuery{UserID: user}); st.TokenRevoked {
		t.Error("legacy token (no jti) reported revoked")
	}
	m.SetInitialized(false)
	if st, _ = m.RevocationState(ctx, jwtx.RevocationQuery{JTI: "j", UserID: user}); st.Initialized {
		t.Error("SetInitialized(false) ignored")
	}
	boom := errors.New("boom")
	m.FailWith(boom)
	if _, err := m.RevocationState(ctx, jwtx.RevocationQuery{JTI: "j", UserID: user}); !errors.Is(err, boom) {
		t.Errorf("FailWith: %v", err)
	}
	if m.Calls() != 5 {
		t.Errorf("Calls = %d, want 5", m.Calls())
	}
}
