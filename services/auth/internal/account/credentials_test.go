package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/account"
)

func TestValidateCredentials(t *testing.T) {
	users := []struct {
		name, username string
		ok             bool
	}{
		{"OKMin", "abc", true},
		{"OKMax", strings.Repeat("a", 64), true},
		{"OKPunctuation", "a.b_c-d9", true},
		{"ErrEmpty", "", false},
		{"ErrShort", "ab", false},
		{"ErrLong", strings.Repeat("a", 65), false},
		{"ErrSpace", "a b", false},
		{"ErrAt", "a@b.c", false},
		{"ErrNonASCII", "zoë", false},
		{"ErrNUL", "abc\x00", false},
	}
	for _, tc := range users {
		t.Run("Username"+tc.name, func(t *testing.T) {
			if err := account.ValidateUsername(tc.username); (err == nil) != tc.ok {
				t.Fatalf("ValidateUsername(%q) = %v", tc.username, err)
			}
		})
	}
	passwords := []struct {
		name, password, code string // code "" means OK
	}{
		{"OKMin", "xk8#qz!m", ""},
		{"OKMax", strings.Repeat("p", 256), ""},
		{"OKMultibyte", "ééééééé€", ""}, // 8 characters
		{"ErrEmpty", "", account.CodeInvalidRequest},
		{"ErrLong", strings.Repeat("p", 257), account.CodeInvalidRequest},
		{"ErrLongMultibyte", strings.Repeat("é", 129), account.CodeInvalidRequest}, // 258 bytes
		{"ErrShort", "xk8#qz!", account.CodeWeakPassword},
		{"ErrShortMultibyte", "ééééé", account.CodeWeakPassword}, // 10 bytes, 5 characters
		{"ErrContainsUsername", "my-alice-pass", account.CodeWeakPassword},
		{"ErrCommon", "Password123", account.CodeWeakPassword},
	}
	for _, tc := range passwords {
		t.Run("Password"+tc.name, func(t *testing.T) {
			err := account.ValidatePassword("alice", tc.password)
			var apiErr *account.Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("ValidatePassword(%q) = %v", tc.password, err)
			case tc.code != "" && (!errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.Message == ""):
				t.Fatalf("ValidatePassword(%q) = %v, want %s", tc.password, err, tc.code)
			}
		})
	}
}
