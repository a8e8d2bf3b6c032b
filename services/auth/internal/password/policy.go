package password

import (
	_ "embed" // the common-password list
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Length limits of the password policy. The minimum counts characters
// (Unicode code points), as NIST SP 800-63B asks, so "ééééééé" is as long
// as "eeeeeee"; the maximum counts bytes, because it bounds what is hashed
// and what a request may carry.
const (
	MinLength = 8   // characters
	MaxLength = 256 // bytes
)

// ErrWeak is matched (errors.Is) by every *WeakError.
var ErrWeak = errors.New("password: too weak")

// WeakError says why CheckPolicy refused a password. Reason is safe to show
// to the user; it never repeats the password.
type WeakError struct {
	Reason string
}

// Error returns the reason.
func (e *WeakError) Error() string { return "password: too weak: " + e.Reason }

// Is reports whether target is ErrWeak.
func (e *WeakError) Is(target error) bool { return target == ErrWeak }

// CheckPolicy returns nil when pw may be chosen by username, or a
// *WeakError when it is
//
//   - shorter than MinLength characters,
//   - equal to or containing the username, ignoring case,
//   - in the list of common passwords shipped with the service
//     (common-passwords.txt), ignoring case.
//
// It does not check MaxLength or emptiness: those are request errors, not
// weak choices. Like NIST SP 800-63B, it imposes no composition rules
// (digits, symbols): they push users to predictable patterns, which the
// common list catches instead.
func CheckPolicy(username, pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinLength {
		return &WeakError{Reason: fmt.Sprintf("must be at least %d characters", MinLength)}
	}
	lower := strings.ToLower(pw)
	if username != "" && strings.Contains(lower, strings.ToLower(username)) {
		return &WeakError{Reason: "must not contain the username"}
	}
	if IsCommon(pw) {
		return &WeakError{Reason: "is too common: it is on lists attackers try first"}
	}
	return nil
}

//go:embed common-passwords.txt
var commonList string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// IsCommon reports whether pw, ignoring case, is one of the common
// passwords shipped with the service.
func IsCommon(pw string) bool {
	commonOnce.Do(func() { common = parseList(commonList) })
	_, ok := common[strings.ToLower(pw)]
	return ok
}

// CommonCount returns how many common passwords the list holds.
func CommonCount() int {
	commonOnce.Do(func() { common = parseList(commonList) })
	return len(common)
}

// parseList reads one password a line, skipping blank lines and '#'
// comments, lower-cased.
func parseList(s string) map[string]struct{} {
	m := make(map[string]struct{}, 1500)
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[strings.ToLower(line)] = struct{}{}
	}
	return m
}
