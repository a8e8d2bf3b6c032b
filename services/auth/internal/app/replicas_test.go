package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParseConfigStreamReplicas: AUTH_STREAM_REPLICAS is unset (0) by
// default, 1-5 when given, anything else a usage error; --help lists it.
func TestParseConfigStreamReplicas(t *testing.T) {
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
			c, err := ParseConfig(envOf(map[string]string{StreamReplicasEnv: tc.v}), nil, &bytes.Buffer{})
			if tc.err {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), StreamReplicasEnv) {
					t.Fatalf("AUTH_STREAM_REPLICAS=%q: %v, want a usage error naming it", tc.v, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.StreamReplicas != tc.want {
				t.Fatalf("AUTH_STREAM_REPLICAS=%q: %d, want %d", tc.v, c.StreamReplicas, tc.want)
			}
			if got := (&Main{Config: c}).streamConfig(); got.Replicas != tc.want || got.ReplicasSetting != StreamReplicasEnv {
				t.Fatalf("stream config %+v, want replicas %d named %s", got, tc.want, StreamReplicasEnv)
			}
		})
	}
	var help bytes.Buffer
	Usage(&help)
	if !strings.Contains(help.String(), StreamReplicasEnv) {
		t.Fatalf("--help does not list %s:\n%s", StreamReplicasEnv, help.String())
	}
}

// TestParseConfigPublishTimeout: AUTH_PUBLISH_TIMEOUT defaults to 5s and
// refuses less than 100ms.
func TestParseConfigPublishTimeout(t *testing.T) {
	c, err := ParseConfig(envOf(map[string]string{"AUTH_PUBLISH_TIMEOUT": "1s"}), nil, &bytes.Buffer{})
	if err != nil || c.PublishTimeout != time.Second {
		t.Fatalf("AUTH_PUBLISH_TIMEOUT=1s: %s, %v", c.PublishTimeout, err)
	}
	_, err = ParseConfig(envOf(map[string]string{"AUTH_PUBLISH_TIMEOUT": "10ms"}), nil, &bytes.Buffer{})
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "AUTH_PUBLISH_TIMEOUT") {
		t.Fatalf("AUTH_PUBLISH_TIMEOUT=10ms: %v, want a usage error naming it", err)
	}
}
