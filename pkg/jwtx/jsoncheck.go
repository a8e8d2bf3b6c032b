package jwtx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of objects and arrays in a token header
// or payload.
const maxJSONDepth = 32

// checkJSON verifies that data is exactly one JSON object of valid UTF-8
// (RFC 8725 section 3.7: encoding/json would silently replace invalid
// bytes, so two parsers could read different strings), with no member
// name repeated in any object (names are compared the way encoding/json
// matches struct fields, case-insensitively, so "JTI" beside "jti" is a
// duplicate) and nesting at most maxJSONDepth deep. It exists because
// encoding/json silently keeps the last of duplicate members, which lets a
// token smuggle a second value past a checker that reads the first.
func checkJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	var stack []frame
	for started := false; ; started = true {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("malformed JSON")
		}
		if !started {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("not a JSON object")
			}
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) == maxJSONDepth {
					return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
				}
				f := frame{}
				if t == '{' {
					f = frame{keys: make(map[string]struct{}), wantKey: true}
				}
				stack = append(stack, f)
				continue
			default: // '}' or ']'
				stack = stack[:top]
				if len(stack) == 0 {
					if _, err := dec.Token(); !errors.Is(err, io.EOF) {
						return errors.New("data after the JSON object")
					}
					return nil
				}
			}
		case string:
			if f := &stack[top]; f.keys != nil && f.wantKey {
				k := foldName(t)
				if _, dup := f.keys[k]; dup {
					return errors.New("duplicate JSON member name")
				}
				f.keys[k] = struct{}{}
				f.wantKey = false
				continue
			}
		}
		// A value (scalar or closed container) ended inside the top frame.
		if f := &stack[len(stack)-1]; f.keys != nil {
			f.wantKey = true
		}
	}
}

// foldName folds a member name the way encoding/json does when it matches
// names to struct fields (ASCII case, plus Unicode simple folding such as
// U+017F LATIN SMALL LETTER LONG S to "S" and U+212A KELVIN SIGN to "K").
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return b.String()
}

// checkNames rejects a member name that folds to one of the registered
// names but is spelled differently: encoding/json would bind "JTI" or
// "ſub" to a field tagged "jti" or "sub".
func checkNames(m map[string]json.RawMessage, registered ...string) error {
	for k := range m {
		for _, name := range registered {
			if k != name && foldName(k) == foldName(name) {
				return fmt.Errorf("member name differs from %q only by case", name)
			}
		}
	}
	return nil
}

// rawString returns the JSON string raw holds; ok is false for any other
// JSON type, null included.
func rawString(raw json.RawMessage) (s string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// rawNumber returns the literal of the JSON number raw holds; ok is false
// for any other JSON type (a number given as a string included).
func rawNumber(raw json.RawMessage) (lit string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return "", false
	}
	return string(raw), true
}
