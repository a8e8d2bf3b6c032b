package revocation_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Versions are bounded by MaxVersion (2^53), so that no event can push a
// user's version where it can no longer be raised (red-team finding 2).
func TestVersionBound(t *testing.T) {
	cases := []struct {
		name    string
		version int64
		ok      bool
	}{
		{"One", 1, true},
		{"MaxVersion", revocation.MaxVersion, true},
		{"MaxVersionPlusOne", revocation.MaxVersion + 1, false},
		{"MaxInt64", math.MaxInt64, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := revocation.UserTokensRevoked{UserID: user, Version: tc.version}.Event(now)
			if err := ev.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, revocation.ErrInvalidEvent)) {
				t.Fatalf("Validate(version %d) = %v, want ok %v", tc.version, err, tc.ok)
			}
			if _, err := revocation.Encode(ev); (err == nil) != tc.ok {
				t.Fatalf("Encode(version %d) = %v, want ok %v", tc.version, err, tc.ok)
			}
			// The body a producer without the bound would write.
			body := strings.Replace(encoded(t, revocation.UserTokensRevoked{UserID: user, Version: 7}.Event(now)),
				`"version":7`, `"version":`+strconv.FormatInt(tc.version, 10), 1)
			got, err := revocation.Decode([]byte(body))
			switch {
			case tc.ok && (err != nil || got.Version != tc.version):
				t.Fatalf("Decode(%s) = %+v, %v", body, got, err)
			case !tc.ok && !errors.Is(err, revocation.ErrInvalidEvent):
				t.Fatalf("Decode(%s) = %v, want ErrInvalidEvent", body, err)
			}
		})
	}
	if revocation.MaxVersion != 1<<53 || float64(revocation.MaxVersion) != float64(revocation.MaxVersion-1)+1 {
		t.Fatalf("MaxVersion %d is not 2^53 or not exact in a float64", revocation.MaxVersion)
	}
}
