package revocation_test

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// The vectors are in docs/CONTRACT.md; a port to another language checks
// itself against them.
func TestExternalID_Vectors(t *testing.T) {
	for _, tc := range []struct{ iss, id, want string }{
		{"https://auth.example", "6f1c2a9e-3b1d-4c5e-9f00-0123456789ab", "6f1c2a9e-3b1d-4c5e-9f00-0123456789ab"},
		{"https://tenant.auth0.com/", "auth0|64f1c2a9e3b1d4c5e9f00012", "493f42c0-177a-8787-ae19-cfb3fb86e278"},
		{"https://kc.example/realms/acme", "alice@example.com", "fe452ad0-5f75-8b9c-ae85-57af8fa1da32"},
		{"https://kc.example/realms/acme", "6F1C2A9E-3B1D-4C5E-9F00-0123456789AB", "fe71c051-737b-827d-b689-eda34dd50d61"},
	} {
		got := revocation.ExternalID(tc.iss, tc.id)
		if got != tc.want {
			t.Errorf("ExternalID(%q, %q) = %s, want %s", tc.iss, tc.id, got, tc.want)
		}
		if !revocation.IsUUID(tc.id) {
			if ref := reference(tc.iss, tc.id); got != ref {
				t.Errorf("ExternalID(%q, %q) = %s, the documented computation gives %s", tc.iss, tc.id, got, ref)
			}
		}
		if !revocation.IsUUID(got) {
			t.Errorf("ExternalID(%q, %q) = %s, not a canonical UUID", tc.iss, tc.id, got)
		}
		t.Logf("ExternalID(%q, %q) = %s", tc.iss, tc.id, got)
	}
}

// reference computes the digest the documented way, with the uuid
// package for the version and variant bits and the formatting.
func reference(iss, id string) string {
	sum := sha256.Sum256([]byte(iss + "\x00" + id))
	u, err := uuid.FromBytes(sum[:16])
	if err != nil {
		panic(err)
	}
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	if u.Version() != 8 || u.Variant() != uuid.RFC4122 {
		panic(fmt.Sprintf("version %d variant %v", u.Version(), u.Variant()))
	}
	return u.String()
}

// Two issuers' equal subjects differ, the digest is stable, and moving the
// separator changes it.
func TestExternalID_Separates(t *testing.T) {
	a := revocation.ExternalID("https://a.example", "alice")
	if a != revocation.ExternalID("https://a.example", "alice") {
		t.Fatal("ExternalID is not stable")
	}
	for _, other := range []string{
		revocation.ExternalID("https://b.example", "alice"),
		revocation.ExternalID("https://a.example", "alice2"),
		revocation.ExternalID("https://a.examplea", "lice"),
	} {
		if other == a {
			t.Errorf("ExternalID collision: %s", a)
		}
	}
}

func BenchmarkExternalID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = revocation.ExternalID("https://tenant.auth0.com/", "auth0|64f1c2a9e3b1d4c5e9f00012")
	}
}
