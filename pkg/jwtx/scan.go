package jwtx

import (
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// scanner reads JSON from a string in one pass, without allocating on the
// common path. It accepts exactly what checkJSON followed by encoding/json
// accepts (the differential fuzz test FuzzParsePayloadReference holds it to
// that): one value per call, RFC 8259 grammar, strings without raw control
// characters. The caller checks UTF-8 once for the whole input.
type scanner struct {
	s   string
	pos int
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

// next skips whitespace and reports the byte at the position, or 0 at the
// end of the input.
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

// str scans a JSON string at the position and returns its value: a slice
// of the input when it has no escapes, else decoded by encoding/json.
func (p *scanner) str() (string, bool) {
	if p.next() != '"' {
		return "", false
	}
	start := p.pos + 1
	escaped := false
	for i := start; i < len(p.s); i++ {
		switch c := p.s[i]; {
		case c == '"':
			p.pos = i + 1
			if !escaped {
				return p.s[start:i], true
			}
			var v string
			if err := json.Unmarshal([]byte(p.s[start-1:i+1]), &v); err != nil {
				return "", false
			}
			return v, true
		case c == '\\':
			escaped = true
			i++
			if i >= len(p.s) {
				return "", false
			}
			switch p.s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p.s) {
					return "", false
				}
				for j := i + 1; j <= i+4; j++ {
					if !isHex(p.s[j]) {
						return "", false
					}
				}
				i += 4
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// num scans a JSON number at the position and returns its literal.
func (p *scanner) num() (string, bool) {
	p.ws()
	s, i := p.s, p.pos
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return "", false
		}
		i = j
	}
	p.pos = i
	return s[start:i], true
}

// digits returns the index of the first non-digit at or after i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skip scans any JSON value at the position; depth is the nesting of the
// container holding it (the top-level object is 1).
func (p *scanner) skip(depth int) bool {
	switch c := p.next(); {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := p.num()
		return ok
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(p.s)-p.pos >= len(lit) && p.s[p.pos:p.pos+len(lit)] == lit {
			p.pos += len(lit)
			return true
		}
	}
	return false
}

// object scans an object nested at depth, rejecting repeated member names.
func (p *scanner) object(depth int) bool {
	if depth > maxJSONDepth || !p.consume('{') {
		return false
	}
	if p.consume('}') {
		return true
	}
	var names nameSet
	for {
		name, ok := p.str()
		if !ok || !names.add(name) || !p.consume(':') || !p.skip(depth) {
			return false
		}
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

// array scans an array nested at depth.
func (p *scanner) array(depth int) bool {
	if depth > maxJSONDepth || !p.consume('[') {
		return false
	}
	if p.consume(']') {
		return true
	}
	for {
		if !p.skip(depth) {
			return false
		}
		if p.consume(']') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

// nameSet holds the member names of one object, compared the way
// encoding/json matches names to struct fields (foldName). The first few
// are compared pairwise without allocating; past them a map keeps a
// payload with thousands of members linear.
type nameSet struct {
	small [16]string
	n     int
	big   map[string]struct{}
}

// add records name and reports false when an equal name was seen.
func (ns *nameSet) add(name string) bool {
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

// foldEqual reports whether foldName(a) == foldName(b), without
// allocating. a and b are valid UTF-8.
func foldEqual(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb && unicode.ToUpper(unicode.ToLower(ra)) != unicode.ToUpper(unicode.ToLower(rb)) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b == ""
}
