package httpapi

import (
	"net/netip"
	"testing"
)

func TestCoarseAddr(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"IPv4", "192.0.2.77", "192.0.2.0/24"},
		{"IPv4Mapped", "::ffff:192.0.2.77", "192.0.2.0/24"},
		{"IPv6", "2001:db8:1234:5678::1", "2001:db8:1234::/48"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := coarseAddr(netip.MustParseAddr(tc.in)); got != tc.want {
				t.Fatalf("coarseAddr(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := coarseAddr(netip.Addr{}); got != "" {
		t.Fatalf("zero address: %q", got)
	}
}
