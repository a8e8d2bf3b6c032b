package jwtx_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// now is the fixed clock of the tests that hand-craft tokens.
var now = time.Unix(1_700_000_000, 0).UTC()

const (
	testSub = "0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70"
	testJTI = "7d3c5a1e-2b4f-4e8d-a6c9-1f0e2d3c4b5a"
)

// fixedKit returns a Kit whose signer and validators see the clock now.
func fixedKit(tb testing.TB) *jwtxtest.Kit {
	tb.Helper()
	return jwtxtest.New(tb, jwtxtest.WithNow(func() time.Time { return now }))
}

// header returns a JOSE header of a well-formed token, with changes:
// a nil value removes the member.
func header(kid string, changes map[string]any) string {
	h := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
	return mustJSON(apply(h, changes))
}

// claims returns the claim set of a well-formed token, with changes: a nil
// value removes the member.
func claims(k *jwtxtest.Kit, changes map[string]any) string {
	c := map[string]any{
		"iss": k.Issuer,
		"sub": testSub,
		"aud": k.Audience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(15 * time.Minute).Unix(),
		"jti": testJTI,
		"ver": 0,
	}
	return mustJSON(apply(c, changes))
}

func apply(m, changes map[string]any) map[string]any {
	m = maps.Clone(m)
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %v: %v", v, err))
	}
	return string(b)
}

// kitToken signs header and claims changes with k's key.
func kitToken(k *jwtxtest.Kit, hdr, cl map[string]any) string {
	return k.SignRaw(header(k.Signer.KeyID(), hdr), claims(k, cl))
}

// mustValidator builds a validator, failing the test on error.
func mustValidator(tb testing.TB, cfg jwtx.Config) *jwtx.Validator {
	tb.Helper()
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		tb.Fatalf("NewValidator: %v", err)
	}
	return v
}
