package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/password"
)

func TestCheckPolicy(t *testing.T) {
	cases := []struct {
		name, username, password string
		reason                   string // substring of WeakError.Reason; "" means accepted
	}{
		{"OK", "alice", "correct horse", ""},
		{"OKMinLength", "alice", "xk8#qz!m", ""},
		{"OKMultibyteCountsCharacters", "alice", "ééééééé€", ""}, // 8 characters, 17 bytes
		{"OKLongPassphrase", "alice", strings.Repeat("correct horse ", 18), ""},
		{"OKUsernameNotContained", "bob", "b-o-b rides a horse", ""},
		{"ErrShort", "alice", "xk8#qz!", "at least 8 characters"},
		{"ErrShortMultibyte", "alice", "éééééé€", "at least 8 characters"}, // 7 characters, 15 bytes
		{"ErrEqualsUsername", "alice.smith", "alice.smith", "username"},
		{"ErrEqualsUsernameOtherCase", "Alice.Smith", "aLICE.SMITH", "username"},
		{"ErrContainsUsername", "bob", "my name is BOB!", "username"},
		{"ErrCommon", "alice", "password", "too common"},
		{"ErrCommonUpperCase", "alice", "PassWord123", "too common"},
		{"ErrCommonKeyboardWalk", "alice", "1qaz2wsx", "too common"},
		{"ErrCommonDigits", "alice", "12345678", "too common"},
		{"ErrCommonLeet", "alice", "P@ssw0rd", "too common"},
		{"ErrCommonWithYear", "alice", "Summer2024", "too common"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := password.CheckPolicy(tc.username, tc.password)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckPolicy(%q, %q) = %v, want nil", tc.username, tc.password, err)
				}
				return
			}
			var weak *password.WeakError
			if !errors.As(err, &weak) || !errors.Is(err, password.ErrWeak) || !strings.Contains(weak.Reason, tc.reason) {
				t.Fatalf("CheckPolicy(%q, %q) = %v, want a WeakError about %q", tc.username, tc.password, err, tc.reason)
			}
			if strings.Contains(weak.Reason, tc.password) {
				t.Fatalf("reason %q repeats the password", weak.Reason)
			}
		})
	}
}

func TestCommonList(t *testing.T) {
	n := password.CommonCount()
	if n < 1000 || n > 2000 {
		t.Fatalf("the common list holds %d passwords, want about a thousand", n)
	}
	for _, pw := range []string{"password", "qwertyuiop", "iloveyou", "11111111", "letmein123", "trustno1", "00000000", "abc12345"} {
		if !password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false", pw)
		}
	}
	for _, pw := range []string{"", "#", "correct horse battery", "correct horse", "battery staple", "another password"} {
		if password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = true", pw)
		}
	}
}
