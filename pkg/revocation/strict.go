package revocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
//
// It also returns where the value of each Event field is in data, for
// fastEvent.
func checkStrict(data []byte) (fieldValues, error) {
	if !utf8.Valid(data) {
		return fieldValues{}, errNotUTF8
	}
	p := scanner{s: data}
	if !p.consume('{') {
		return fieldValues{}, errNotObject
	}
	if err := p.top(); err != nil {
		return fieldValues{}, err
	}
	if p.ws(); p.pos != len(p.s) {
		return fieldValues{}, errTrailingData
	}
	return p.fields, nil
}

// fieldValues holds, for each of fieldNames, the JSON text of its value in
// the top-level object (nil when the member is absent).
type fieldValues [len(fieldNames)][]byte

// scanner reads JSON in one pass, without allocating on the common path
// (no escapes in member names, fewer than nine unknown members per
// object).
type scanner struct {
	s      []byte
	pos    int
	fields fieldValues // filled by top
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
		i := fieldIndex(name)
		if i >= 0 {
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
		p.ws()
		start := p.pos
		if err := p.value(1); err != nil {
			return err
		}
		if i >= 0 {
			p.fields[i] = p.s[start:p.pos:p.pos]
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
		for i < len(p.s) && !strSpecial[p.s[i]] {
			i++
		}
		if i == len(p.s) {
			break
		}
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

// strSpecial marks the bytes str looks at: the closing quote, the escape
// character and the control characters JSON refuses raw.
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

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

// Indices of fieldNames, for fastEvent.
const (
	fieldSchemaVersion = iota
	fieldID
	fieldType
	fieldOccurredAt
	fieldUserID
	fieldJTI
	fieldSID
	fieldExpiresAt
	fieldVersion
	fieldReason
	fieldActor
)

// fastEvent returns the Event encoding/json decodes from a body whose
// field values checkStrict found, without its reflection and its
// allocations, when every value present has the form the encoders write:
// a string field a string without escapes, an integer field an integer
// of at most 18 digits, a time a string time.Time.UnmarshalJSON accepts,
// the actor such an object of "type" and "id", or a version 1 string.
// Otherwise ok is false and encoding/json decides (FuzzFastEvent checks
// that both agree). Member names and duplicates need no care here:
// checkStrict refused every name encoding/json could bind to a field but
// an exact one, and every member given twice.
func fastEvent(f *fieldValues) (e Event, ok bool) {
	if v := f[fieldSchemaVersion]; v != nil {
		n, ok := plainInt(v)
		if !ok {
			return Event{}, false
		}
		e.SchemaVersion = int(n)
	}
	if v := f[fieldVersion]; v != nil {
		if e.Version, ok = plainInt(v); !ok {
			return Event{}, false
		}
	}
	for _, t := range [...]struct {
		i   int
		dst *time.Time
	}{{fieldOccurredAt, &e.OccurredAt}, {fieldExpiresAt, &e.ExpiresAt}} {
		if v := f[t.i]; v != nil {
			if _, ok := plainString(v); !ok || t.dst.UnmarshalJSON(v) != nil {
				return Event{}, false
			}
		}
	}
	for _, s := range [...]struct {
		i     int
		dst   *string
		known []string
	}{
		{fieldID, &e.ID, nil},
		{fieldType, &e.Type, eventTypes[:]},
		{fieldUserID, &e.UserID, nil},
		{fieldJTI, &e.JTI, nil},
		{fieldSID, &e.SessionID, nil},
		{fieldReason, &e.Reason, knownReasons},
	} {
		if v := f[s.i]; v != nil {
			raw, ok := plainString(v)
			if !ok {
				return Event{}, false
			}
			*s.dst = intern(raw, s.known)
		}
	}
	if v := f[fieldActor]; v != nil {
		if e.Actor, ok = plainActor(v, e.UserID); !ok {
			return Event{}, false
		}
	}
	return e, true
}

// eventTypes are the values of Event.Type fastEvent keeps one copy of.
var eventTypes = [...]string{TypeTokenRevoked, TypeUserTokensRevoked, TypeSessionRevoked}

// actorTypes are the values of Actor.Type fastEvent keeps one copy of.
var actorTypes = []string{ActorUser, ActorClient, ActorSystem}

// intern returns raw as a string: the one of known it equals, without
// allocating, or a copy.
func intern(raw []byte, known []string) string {
	for _, k := range known {
		if string(raw) == k {
			return k
		}
	}
	return string(raw)
}

// plainString returns what is between the quotes of v, a JSON string
// checkStrict accepted, when it holds no escape: then encoding/json reads
// exactly those bytes (valid UTF-8, checked).
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return nil, false
	}
	return raw, true
}

// plainInt parses v, a JSON number checkStrict accepted, when it is an
// integer of at most 18 digits (no fraction, no exponent): the value
// strconv.ParseInt gives encoding/json, which cannot overflow.
func plainInt(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// plainActor reads what Actor.UnmarshalJSON reads from v when v is a
// plain string (a version 1 actor) or an object whose members are named
// exactly "type" and "id" and hold plain strings. An id equal to userID
// shares its string.
func plainActor(v []byte, userID string) (Actor, bool) {
	id := func(raw []byte) string {
		if string(raw) == userID {
			return userID
		}
		return string(raw)
	}
	if raw, ok := plainString(v); ok {
		return Actor{ID: id(raw)}, true
	}
	p := scanner{s: v}
	if !p.consume('{') {
		return Actor{}, false
	}
	var a Actor
	if p.consume('}') {
		return a, true
	}
	for {
		name, ok := p.plainStr()
		if !ok || !p.consume(':') {
			return Actor{}, false
		}
		val, ok := p.plainStr()
		if !ok {
			return Actor{}, false
		}
		switch string(name) {
		case "type":
			a.Type = intern(val, actorTypes)
		case "id":
			a.ID = id(val)
		default:
			return Actor{}, false
		}
		if p.consume('}') {
			return a, true
		}
		if !p.consume(',') {
			return Actor{}, false
		}
	}
}

// plainStr scans a string without escapes and returns what is between its
// quotes.
func (p *scanner) plainStr() ([]byte, bool) {
	start := p.pos
	raw, escaped, ok := p.str()
	if !ok || escaped {
		p.pos = start
		return nil, false
	}
	return raw, true
}
