package app_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

func writeKey(t *testing.T) (path, kid string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, jwtx.Thumbprint(pub)
}

func (s *stack) jwksKids() map[string]bool {
	s.t.Helper()
	res := s.get("/.well-known/jwks.json", "")
	if res.status != http.StatusOK {
		s.t.Fatalf("jwks: %d", res.status)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(res.body, &set); err != nil {
		s.t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	return kids
}

// Rotation: the new key signs, the retired one stays published and
// accepted until its last token has expired, then it is gone and its
// tokens are refused as signed by an unknown key.
func TestSigningKeyRotation(t *testing.T) {
	oldPath, oldKid := writeKey(t)
	newPath, newKid := writeKey(t)
	s := startStack(t, map[string]string{"AUTH_SIGNING_KEY_FILE": oldPath})
	s.register("dave", "correct horse battery")
	oldToken := s.login("dave", "correct horse battery")

	retiredNow := oldPath + "@" + time.Now().UTC().Format(time.RFC3339)
	s.restart(map[string]string{"AUTH_SIGNING_KEY_FILE": newPath, "AUTH_RETIRED_KEYS": retiredNow})
	if kids := s.jwksKids(); !kids[oldKid] || !kids[newKid] || len(kids) != 2 {
		t.Fatalf("JWKS during the overlap: %v, want the old %s and the new %s", kids, oldKid, newKid)
	}
	if st := s.meStatus(oldToken); st != http.StatusOK {
		t.Fatalf("token of the retired key during the overlap: %d, want 200", st)
	}
	newToken := s.login("dave", "correct horse battery")
	if st := s.meStatus(newToken); st != http.StatusOK {
		t.Fatalf("token of the new key: %d", st)
	}

	// Retired long enough ago that every token it signed has expired.
	retiredLongAgo := oldPath + "@" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	s.restart(map[string]string{"AUTH_RETIRED_KEYS": retiredLongAgo})
	if kids := s.jwksKids(); kids[oldKid] || !kids[newKid] || len(kids) != 1 {
		t.Fatalf("JWKS after the overlap: %v, want only %s", kids, newKid)
	}
	if st := s.meStatus(oldToken); st != http.StatusUnauthorized {
		t.Fatalf("token of a removed key: %d, want 401", st)
	}
	if st := s.meStatus(newToken); st != http.StatusOK {
		t.Fatalf("token of the new key after the overlap: %d", st)
	}
}
