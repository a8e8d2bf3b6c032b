package jwtx_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

func TestValidator_Metrics(t *testing.T) {
	k := fixedKit(t)
	reg := prometheus.NewPedanticRegistry()
	store := jwtxtest.NewMemoryStore()
	cfg := k.Config(store)
	cfg.Metrics = reg
	v := mustValidator(t, cfg)
	// A second validator on the same registry shares the collectors.
	v2 := mustValidator(t, cfg)

	ctx := context.Background()
	tok, c, err := k.Signer.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = v.Validate(ctx, tok)        // ok
	_, _ = v2.Validate(ctx, tok)       // ok
	_, _ = v.Validate(ctx, "bad")      // invalid
	_, _ = v.Parse(tok)                // ok
	store.FailWith(errors.New("down")) //
	_, _ = v.Validate(ctx, tok)        // unavailable
	store.FailWith(nil)
	store.RevokeToken(c.ID)
	_, _ = v.Validate(ctx, tok) // revoked

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]float64{}
	var checks uint64
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "jwtx_validations_total":
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if n := m.GetCounter().GetValue(); n > 0 {
					results[labels["result"]+"/"+labels["issuer"]] = n
				}
			case "jwtx_revocation_check_duration_seconds":
				checks = m.GetHistogram().GetSampleCount()
			}
		}
	}
	// "bad" names no issuer; the others are the kit's (labelled by host).
	want := map[string]float64{"ok/auth.test": 3, "invalid/unknown": 1, "unavailable/auth.test": 1, "revoked/auth.test": 1}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("jwtx_validations_total (-want +got):\n%s", diff)
	}
	if checks != 4 {
		t.Errorf("revocation checks observed %d, want 4", checks)
	}
}
