package config_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
)

// TestParseStreamReplicas: REVOCATION_STREAM_REPLICAS is unset (0) by
// default, 1-5 when given, anything else a usage error; --help lists it.
func TestParseStreamReplicas(t *testing.T) {
	cases := []struct {
		name string
		v    string
		want int
		err  bool
	}{
		{"Unset", "", 0, false},
		{"One", "1", 1, false},
		{"Three", "3", 3, false},
		{"Five", "5", 5, false},
		{"ErrZero", "0", 0, true},
		{"ErrSix", "6", 0, true},
		{"ErrNotANumber", "three", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(env(map[string]string{config.StreamReplicasEnv: tc.v}), nil, &bytes.Buffer{})
			if tc.err {
				if !errors.Is(err, config.ErrUsage) || !strings.Contains(err.Error(), config.StreamReplicasEnv) {
					t.Fatalf("REVOCATION_STREAM_REPLICAS=%q: %v, want a usage error naming it", tc.v, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.StreamReplicas != tc.want {
				t.Fatalf("REVOCATION_STREAM_REPLICAS=%q: %d, want %d", tc.v, c.StreamReplicas, tc.want)
			}
		})
	}
	var help bytes.Buffer
	if _, err := config.Parse(env(nil), []string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(help.String(), config.StreamReplicasEnv) {
		t.Fatalf("--help does not list %s:\n%s", config.StreamReplicasEnv, help.String())
	}
}
