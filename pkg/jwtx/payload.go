package jwtx

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxNumericDate is 9999-12-31T23:59:59Z: a time claim beyond it is an
// attack or a bug, and would overflow time arithmetic.
const maxNumericDate = 253402300799

// registeredClaims are the payload members this package reads.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "ver", "sid", "scope", "scp", "roles"}

// decodeObject checks raw with checkJSON, decodes it into a map and rejects
// member names that differ from one of names only by case.
func decodeObject(raw []byte, what string, names ...string) (map[string]json.RawMessage, error) {
	if err := checkJSON(raw); err != nil {
		return nil, fmt.Errorf("jwtx: %s: %w: %w", what, err, ErrMalformedToken)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("jwtx: %s is not a JSON object: %w", what, ErrMalformedToken)
	}
	if err := checkNames(m, names...); err != nil {
		return nil, fmt.Errorf("jwtx: %s: %w: %w", what, err, ErrMalformedToken)
	}
	return m, nil
}

// parsePayload decodes the claim set in one pass (scanner) and checks the
// type and form of every claim this package reads: exp, nbf and iat JSON
// numbers in range; ver an integer >= 0; iss a string; sub, jti and sid
// ids (checkID: strings of 1 to MaxIDLength bytes without control
// characters); aud a string or an array of strings; scope a string; scp
// and roles a string or an array of strings. Members of any other name are
// kept as their JSON text (Claims.Claim). Like checkJSON it rejects invalid
// UTF-8, repeated member names (case-folded) in any object, nesting deeper
// than maxJSONDepth and member names that differ from a registered claim
// only by case. Whether the claims are acceptable for their issuer (UUID
// forms, time, audience) is checked afterwards. The claims' strings share
// the memory of payload.
func parsePayload(payload string) (*Claims, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("jwtx: claim "+format+": %w", append(args, ErrMalformedToken)...)
	}
	malformed := func(what string) error {
		return fmt.Errorf("jwtx: payload: %s: %w", what, ErrMalformedToken)
	}
	if !utf8.ValidString(payload) {
		return nil, malformed("not UTF-8")
	}
	p := scanner{s: payload}
	if !p.consume('{') {
		return nil, malformed("not a JSON object")
	}
	c := &Claims{}
	var (
		names                  nameSet
		hasSub, hasExp, hasVer bool
		expLit, nbfLit, iatLit string
		verLit                 string
		scope, scp             []string
		typeErr                error // the first claim of the wrong type
		setType                = func(err error) { typeErr = cmp.Or(typeErr, err) }
	)
	for first := true; ; first = false {
		if first && p.consume('}') {
			break
		}
		name, ok := p.str()
		if !ok || !p.consume(':') {
			return nil, malformed("malformed JSON")
		}
		if !names.add(name) {
			return nil, malformed("duplicate JSON member name")
		}
		switch name {
		case "iss", "sub", "jti", "sid":
			v, ok := p.str()
			if !ok {
				if !p.skip(1) {
					return nil, malformed("malformed JSON")
				}
				setType(bad("%s is not a string", name))
				break
			}
			switch name {
			case "iss":
				c.Issuer = v
			case "sub":
				c.Subject, hasSub = v, true
			case "sid":
				c.SessionID = v
				setType(checkID(v, name, bad))
			default:
				c.ID = v
				setType(checkID(v, name, bad))
			}
		case "aud":
			aud, ok, malformedJSON := p.audience()
			if malformedJSON {
				return nil, malformed("malformed JSON")
			}
			if !ok {
				setType(bad("aud is not a string or an array of strings"))
			}
			c.Audience = aud
		case "scope":
			v, ok := p.str()
			if !ok {
				if !p.skip(1) {
					return nil, malformed("malformed JSON")
				}
				setType(bad("scope is not a string"))
				break
			}
			scope = strings.Fields(v)
		case "scp", "roles":
			isString := p.next() == '"'
			list, ok, malformedJSON := p.audience()
			if malformedJSON {
				return nil, malformed("malformed JSON")
			}
			if !ok {
				setType(bad("%s is not a string or an array of strings", name))
				break
			}
			if name == "roles" {
				c.Roles = list
			} else if isString {
				scp = strings.Fields(list[0])
			} else {
				scp = list
			}
		case "exp", "nbf", "iat", "ver":
			var lit string
			if c := p.next(); c == '-' || (c >= '0' && c <= '9') {
				if lit, ok = p.num(); !ok {
					return nil, malformed("malformed JSON")
				}
			} else if !p.skip(1) {
				return nil, malformed("malformed JSON")
			}
			switch name {
			case "exp":
				expLit, hasExp = lit, true
			case "nbf":
				nbfLit = lit
				setType(checkNumber(lit, "nbf", bad))
			case "iat":
				iatLit = lit
				setType(checkNumber(lit, "iat", bad))
			default:
				verLit, hasVer = lit, true
			}
		default:
			for _, reg := range registeredClaims {
				if foldEqual(name, reg) {
					return nil, malformed(fmt.Sprintf("member name differs from %q only by case", reg))
				}
			}
			p.ws()
			start := p.pos
			if !p.skip(1) {
				return nil, malformed("malformed JSON")
			}
			c.extra = append(c.extra, rawMember{name: name, value: p.s[start:p.pos]})
		}
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			return nil, malformed("malformed JSON")
		}
	}
	if p.ws(); p.pos != len(p.s) { // not next() != 0: a NUL byte is data too
		return nil, malformed("data after the JSON object")
	}
	if typeErr != nil {
		return nil, typeErr
	}
	if !hasSub {
		return nil, bad("sub missing")
	}
	if err := checkID(c.Subject, "sub", bad); err != nil {
		return nil, err
	}
	if !hasExp {
		return nil, bad("exp missing")
	}
	var ok bool
	if c.ExpiresAt, ok = numericDate(expLit); !ok {
		return nil, bad("exp is not a NumericDate")
	}
	if nbfLit != "" {
		c.NotBefore, _ = numericDate(nbfLit)
	}
	if iatLit != "" {
		c.IssuedAt, _ = numericDate(iatLit)
	}
	if hasVer {
		n, err := strconv.ParseInt(verLit, 10, 64)
		if verLit == "" || err != nil || n < 0 {
			return nil, bad("ver is not an integer >= 0")
		}
		c.Version, c.hasVer = n, true
	}
	c.Scopes = scope
	if c.Scopes == nil {
		c.Scopes = scp
	}
	return c, nil
}

// checkOwnForms applies the rules of this project's own tokens (Part 1 of
// the contract) to claims parsePayload accepted: sub a UUID, jti and sid
// UUIDs when present, and ver required with a jti.
func checkOwnForms(c *Claims) error {
	bad := func(format string) error {
		return fmt.Errorf("jwtx: claim "+format+": %w", ErrMalformedToken)
	}
	switch {
	case !IsUUID(c.Subject):
		return bad("sub is not a UUID")
	case c.ID != "" && !IsUUID(c.ID):
		return bad("jti is not a UUID")
	case c.SessionID != "" && !IsUUID(c.SessionID):
		return bad("sid is not a UUID")
	case c.ID != "" && !c.hasVer:
		return bad("ver missing")
	}
	return nil
}

// checkID reports an error when v, the value of the id claim name (sub,
// jti, sid), is empty, longer than MaxIDLength bytes or holds a control
// character (NUL included: revocation.ExternalID separates iss and id
// with one).
func checkID(v, name string, bad func(string, ...any) error) error {
	if v == "" || len(v) > MaxIDLength {
		return bad("%s is not a string of 1 to %d bytes", name, MaxIDLength)
	}
	for i := range len(v) {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return bad("%s has a control character", name)
		}
	}
	return nil
}

// checkNumber reports an error when lit (a claim's number literal, "" for
// another JSON type) is not a NumericDate.
func checkNumber(lit, name string, bad func(string, ...any) error) error {
	if _, ok := numericDate(lit); !ok {
		return bad("%s is not a NumericDate", name)
	}
	return nil
}

// audience scans aud: a string or an array of strings. ok is false for
// another JSON type; malformedJSON is true when the value is not JSON.
func (p *scanner) audience() (aud []string, ok, malformedJSON bool) {
	switch p.next() {
	case '"':
		s, ok := p.str()
		if !ok {
			return nil, false, true
		}
		return []string{s}, true, false
	case '[':
	default:
		return nil, false, !p.skip(1)
	}
	start := p.pos
	n, allStrings := 0, true
	p.pos++
	if !p.consume(']') {
		for {
			allStrings = allStrings && p.next() == '"'
			if !p.skip(2) {
				return nil, false, true
			}
			n++
			if p.consume(']') {
				break
			}
			if !p.consume(',') {
				return nil, false, true
			}
		}
	}
	if !allStrings {
		return nil, false, false
	}
	end := p.pos
	aud = make([]string, 0, n)
	p.pos = start + 1
	for range n {
		s, _ := p.str()
		aud = append(aud, s)
		p.consume(',')
	}
	p.pos = end
	return aud, true, false
}

// numericDate reads a NumericDate (RFC 7519): a JSON number of seconds
// since the epoch, possibly fractional, between 0 and maxNumericDate; lit
// is its literal, "" when the claim is another JSON type.
func numericDate(lit string) (time.Time, bool) {
	if lit == "" {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
