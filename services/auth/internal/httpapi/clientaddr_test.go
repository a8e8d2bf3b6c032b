package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
		ok       bool
	}{
		{"OKEmpty", "", nil, true},
		{"OKSpaces", " , ", nil, true},
		{"OKMixed", "10.0.0.0/8, 192.0.2.10,fd00::/8, ::1", []string{"10.0.0.0/8", "192.0.2.10/32", "fd00::/8", "::1/128"}, true},
		{"OKMasked", "10.1.2.3/8", []string{"10.0.0.0/8"}, true},
		{"OKMapped", "::ffff:192.0.2.1", []string{"192.0.2.1/32"}, true},
		{"ErrHost", "proxy.internal", nil, false},
		{"ErrPrefix", "10.0.0.0/33", nil, false},
		{"ErrPort", "10.0.0.1:80", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTrustedProxies(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].String() != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string // addrBucket of the result
	}{
		{"PeerOnly", "203.0.113.7:5555", nil, trusted, "203.0.113.7"},
		{"UntrustedPeerXFFIgnored", "203.0.113.7:5555", []string{"198.51.100.1"}, trusted, "203.0.113.7"},
		{"NoTrustedProxiesXFFIgnored", "10.0.0.1:5555", []string{"198.51.100.1"}, nil, "10.0.0.1"},
		{"TrustedPeer", "10.0.0.1:5555", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"TrustedPeerNoXFF", "10.0.0.1:5555", nil, trusted, "10.0.0.1"},
		{"SpoofedLeftEntriesIgnored", "10.0.0.1:5555", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"ChainOfTrustedProxies", "10.0.0.1:5555", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9, 10.8.8.8"}, trusted, "198.51.100.1"},
		{"SeveralHeaders", "10.0.0.1:5555", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"AllTrusted", "10.0.0.1:5555", []string{"10.2.2.2, 10.3.3.3"}, trusted, "10.2.2.2"},
		{"GarbageStopsAtLastTrusted", "10.0.0.1:5555", []string{"198.51.100.1, not-an-ip, 10.3.3.3"}, trusted, "10.3.3.3"},
		{"EntryWithPort", "10.0.0.1:5555", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6EntryWithPort", "10.0.0.1:5555", []string{"[2001:db8:1:2::3]:4711"}, trusted, "2001:db8:1:2::/64"},
		{"IPv6Peer", "[2001:db8:1:2:aaaa::1]:5555", nil, trusted, "2001:db8:1:2::/64"},
		{"IPv6TrustedPeer", "[2001:db8:ffff:1::1]:5555", []string{"2001:db8:1:2::9"}, trusted, "2001:db8:1:2::/64"},
		{"IPv4MappedPeer", "[::ffff:203.0.113.7]:5555", nil, trusted, "203.0.113.7"},
		{"UnreadableRemoteAddr", "@unix", nil, trusted, "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := addrBucket(clientAddr(r, tc.trusted)); got != tc.want {
				t.Fatalf("client address %q, want %q", got, tc.want)
			}
		})
	}
}
