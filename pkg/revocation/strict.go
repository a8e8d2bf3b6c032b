package revocation

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds the nesting of objects and arrays in an event body (the
// top-level object is 1), as pkg/jwtx bounds a token's.
const maxDepth = 32

// fieldNames are the JSON member names of Event. checkStrict refuses a
// member whose name differs from one of them only by case, and one of them
// given twice. TestFieldNamesMatchEvent keeps the list in step with the
// struct tags.
var fieldNames = [...]string{
	"schema_version", "id", "type", "occurred_at", "user_id",
	"jti", "sid", "expires_at", "version", "reason", "actor",
}

// Reasons checkStrict gives; Decode wraps them with ErrInvalidEvent.
var (
	errNotUTF8      = errors.New("not UTF-8")
	errNotObject    = errors.New("not a JSON object")
	errMalformed    = errors.New("malformed JSON")
	errTrailingData = errors.New("data after the JSON object")
	errTooDeep      = fmt.Errorf("JSON nested deeper than %d", maxDepth)
)

// checkStrict verifies that data is exactly one JSON object of valid
// UTF-8, with no member name repeated in any object and no top-level
// member whose name differs from an Event field only by case, nested at
// most maxDepth deep. encoding/json, which Decode runs afterwards, would
// otherwise keep the last of duplicate members, bind "JTI" or "ſtype" to
// the jti or type field, and replace invalid bytes with U+FFFD: a
// consumer reading the body with another parser could then see another
// event than the one Decode returned. It refuses what pkg/jwtx refuses in
// a token payload, by the same rules (member names compared with foldRune,
// as pkg/jwtx does); like pkg/jwtx it lets encoding/json read an escaped
// lone surrogate ("\ud800") as U+FFFD. Unknown members, whatever they
// hold, are allowed so that newer producers can add fields.
func checkStrict(data []byte) error {
	if !utf8.Valid(data) {
		return errNotUTF8
	}
	p := scanner{s: data}
	if !p.consume('{') {
		return errNotObject
	}
	if err := p.top(); err != nil {
		return err
	}
	if p.ws(); p.pos != len(p.s) {
		return errTrailingData
	}
	return nil
}

// scanner reads JSON in one pass, without allocating on the common path
// (no escapes in member names, fewer than nine unknown members per
// object).
type scanner struct {
	s   []byte
	pos int
}

// top scans the members of the top-level object, whose '{' is consumed:
// an Event field at most once and spelled exactly, any other member name
// at most once (case-folded).
func (p *scanner) top() error {
	if p.consume('}') {
		return nil
	}
	var (
		seen    uint16 // bit i: fieldNames[i] was read
		unknown nameSet
	)
	for {
		name, err := p.name()
		if err != nil {
			return err
		}
		if i := fieldIndex(name); i >= 0 {
			if seen&(1<<i) != 0 {
				return fmt.Errorf("duplicate member %q", name)
			}
			seen |= 1 << i
		} else {
			for _, f := range fieldNames {
				if foldEqual(name, []byte(f)) {
					return fmt.Errorf("member name %q differs from %q only by case", name, f)
				}
			}
			if !unknown.add(name) {
				return fmt.Errorf("duplicate member %q", name)
			}
		}
		if !p.consume(':') {
			return errMalformed
		}
		if err := p.value(1); err != nil {
			return err
		}
		if p.consume('}') {
			return nil
		}
		if !p.consume(',') {
			return errMalformed
		}
	}
}

// fieldIndex returns the index of name in fieldNames, or -1.
func fieldIndex(name []byte) int {
	for i, f := range fieldNames {
		if string(name) == f {
			return i
		}
	}
	return -1
}

// value scans any JSON value; depth is the nesting of the container
// holding it.
func (p *scanner) value(depth int) error {
	switch c := p.next(); {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		if _, _, ok := p.str(); !ok {
			return errMalformed
		}
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		if !p.num() {
			return errMalformed
		}
		return nil
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(p.s)-p.pos >= len(lit) && string(p.s[p.pos:p.pos+len(lit)]) == lit {
			p.pos += len(lit)
			return nil
		}
	}
	return errMalformed
}

// object scans a nested object at depth, refusing repeated member names.
func (p *scanner) object(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	p.pos++ // '{'
	if p.consume('}') {
		return nil
	}
	var names nameSet
	for {
		name, err := p.name()
		if err != nil {
			return err
		}
		if !names.add(name) {
			return fmt.Errorf("duplicate member %q", name)
		}
		if !p.consume(':') {
			return errMalformed
		}
		if err := p.value(depth); err != nil {
			return err
		}
		if p.consume('}') {
			return nil
		}
		if !p.consume(',') {
			return errMalformed
		}
	}
}

// array scans a nested array at depth.
func (p *scanner) array(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	p.pos++ // '['
	if p.consume(']') {
		return nil
	}
	for {
		if err := p.value(depth); err != nil {
			return err
		}
		if p.consume(']') {
			return nil
		}
		if !p.consume(',') {
			return errMalformed
		}
	}
}

// name scans a member name and returns it as encoding/json reads it:
// "\u006a\u0074\u0069" is the name "jti".
func (p *scanner) name() ([]byte, error) {
	start := p.pos
	raw, escaped, ok := p.str()
	if !ok {
		return nil, errMalformed
	}
	if !escaped {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(p.s[start:p.pos], &s); err != nil {
		return nil, errMalformed
	}
	return []byte(s), nil
}

// str scans a JSON string and returns what is between its quotes, and
// whether that holds escapes. It refuses raw control characters and
// escapes JSON does not define.
func (p *scanner) str() (raw []byte, escaped, ok bool) {
	if p.next() != '"' {
		return nil, false, false
	}
	start := p.pos + 1
	for i := start; i < len(p.s); i++ {
		switch c := p.s[i]; {
		case c == '"':
			p.pos = i + 1
			return p.s[start:i], escaped, true
		case c == '\\':
			escaped = true
			i++
			if i >= len(p.s) {
				return nil, false, false
			}
			switch p.s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p.s) {
					return nil, false, false
				}
				for j := i + 1; j <= i+4; j++ {
					if !isHex(p.s[j]) {
						return nil, false, false
					}
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

// num scans a JSON number (RFC 8259 grammar).
func (p *scanner) num() bool {
	s, i := p.s, p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	p.pos = i
	return true
}

// digits returns the index of the first non-digit at or after i.
func digits(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// ws skips JSON whitespace.
func (p *scanner) ws() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// next skips whitespace and returns the byte at the position, or 0 at the
// end of the input (callers never accept 0 as JSON).
func (p *scanner) next() byte {
	p.ws()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

// consume skips whitespace and the byte c, reporting whether it was there.
func (p *scanner) consume(c byte) bool {
	if p.next() != c {
		return false
	}
	p.pos++
	return true
}

// nameSet holds the member names of one object, compared the way
// encoding/json matches names to struct fields (foldEqual). The first few
// are compared pairwise without allocating; past them a map keeps an
// object with thousands of members linear.
type nameSet struct {
	small [8][]byte
	n     int
	big   map[string]struct{}
}

// add records name and reports false when an equal name was seen.
func (ns *nameSet) add(name []byte) bool {
	if ns.big == nil {
		for _, o := range ns.small[:ns.n] {
			if foldEqual(o, name) {
				return false
			}
		}
		if ns.n < len(ns.small) {
			ns.small[ns.n] = name
			ns.n++
			return true
		}
		ns.big = make(map[string]struct{}, 2*len(ns.small))
		for _, o := range ns.small {
			ns.big[foldName(o)] = struct{}{}
		}
	}
	f := foldName(name)
	if _, dup := ns.big[f]; dup {
		return false
	}
	ns.big[f] = struct{}{}
	return true
}

// foldRune folds r as pkg/jwtx does: two names encoding/json matches to
// one struct field (ASCII case, and Unicode simple folding such as U+017F
// LATIN SMALL LETTER LONG S to "S" and U+212A KELVIN SIGN to "K") fold to
// the same string. So do U+0130 and U+0131 (dotted and dotless I), which
// encoding/json keeps apart but another parser's case-insensitive match
// may not: refusing them too costs nothing.
func foldRune(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }

// foldName returns name with every rune folded by foldRune.
func foldName(name []byte) string {
	b := make([]byte, 0, len(name))
	for len(name) > 0 {
		r, n := utf8.DecodeRune(name)
		b = utf8.AppendRune(b, foldRune(r))
		name = name[n:]
	}
	return string(b)
}

// foldEqual reports whether foldName(a) == foldName(b), without
// allocating.
func foldEqual(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb && foldRune(ra) != foldRune(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}
