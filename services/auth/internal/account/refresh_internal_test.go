package account

import (
	"strings"
	"testing"
)

func TestRefreshTokenForm(t *testing.T) {
	tok := newRefreshToken()
	if len(tok) != RefreshTokenLen || !wellFormed(tok) || tok == newRefreshToken() {
		t.Fatalf("new token %q", tok)
	}
	s := &Service{refreshKey: []byte("key one")}
	next := s.successor(tok)
	if !wellFormed(next) || next == tok || next != s.successor(tok) {
		t.Fatalf("successor %q of %q", next, tok)
	}
	if (&Service{refreshKey: []byte("key two")}).successor(tok) == next {
		t.Fatal("the successor does not depend on the key")
	}
	for name, bad := range map[string]string{
		"Empty":   "",
		"Short":   tok[:42],
		"Long":    tok + "A",
		"Padding": tok[:41] + "=",
		"StdB64":  strings.Repeat("+", 43),
		// 43 characters carry 258 bits: the last 2 must be zero.
		"NonCanonical": strings.Repeat("A", 42) + "B",
	} {
		t.Run(name, func(t *testing.T) {
			if wellFormed(bad) {
				t.Fatalf("%q accepted", bad)
			}
		})
	}
}
