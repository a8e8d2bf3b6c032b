package jwtx

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// referenceParsePayload is the implementation parsePayload replaced, kept
// as the oracle of the differential fuzz test: it checks the whole payload
// with checkJSON, decodes it with encoding/json and then reads the claims.
// It decodes the claim set and checks the type and form of every
// claim this package reads: exp, nbf and iat JSON numbers in range; ver an
// integer >= 0; iss a string; sub, jti and sid ids (checkID); aud, scp and
// roles a string or an array of strings; scope a string; other members
// kept as their JSON text. The forms of this project's own tokens
// (checkOwnForms) and whether the claims are acceptable (time, issuer,
// audience) are checked afterwards.
func referenceParsePayload(raw []byte) (*Claims, error) {
	m, err := decodeObject(raw, "payload", registeredClaims...)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("jwtx: claim "+format+": %w", append(args, ErrMalformedToken)...)
	}
	c := &Claims{}
	var ok bool
	if v, has := m["iss"]; has {
		if c.Issuer, ok = rawString(v); !ok {
			return nil, bad("iss is not a string")
		}
	}
	badID := func(format string, args ...any) error { return bad(format, args...) }
	if c.Subject, ok = rawString(m["sub"]); !ok || checkID(c.Subject, "sub", badID) != nil {
		return nil, bad("sub is not an id")
	}
	if c.Audience, ok = referenceAudience(m["aud"]); !ok {
		return nil, bad("aud is not a string or an array of strings")
	}
	for _, d := range []struct {
		name     string
		t        *time.Time
		required bool
	}{{"exp", &c.ExpiresAt, true}, {"nbf", &c.NotBefore, false}, {"iat", &c.IssuedAt, false}} {
		v, has := m[d.name]
		if !has {
			if d.required {
				return nil, bad("%s missing", d.name)
			}
			continue
		}
		if *d.t, ok = referenceNumericDate(v); !ok {
			return nil, bad("%s is not a NumericDate", d.name)
		}
	}
	if v, has := m["jti"]; has {
		if c.ID, ok = rawString(v); !ok || checkID(c.ID, "jti", badID) != nil {
			return nil, bad("jti is not an id")
		}
	}
	if v, has := m["sid"]; has {
		if c.SessionID, ok = rawString(v); !ok || checkID(c.SessionID, "sid", badID) != nil {
			return nil, bad("sid is not an id")
		}
	}
	if v, has := m["scope"]; has {
		s, ok := rawString(v)
		if !ok {
			return nil, bad("scope is not a string")
		}
		c.Scopes = strings.Fields(s)
	}
	if v, has := m["scp"]; has {
		list, ok := referenceAudience(v)
		if !ok {
			return nil, bad("scp is not a string or an array of strings")
		}
		if s, isString := rawString(v); isString {
			list = strings.Fields(s)
		}
		if c.Scopes == nil {
			c.Scopes = list
		}
	}
	if v, has := m["roles"]; has {
		if c.Roles, ok = referenceAudience(v); !ok {
			return nil, bad("roles is not a string or an array of strings")
		}
	}
	for name, v := range m {
		if !slices.Contains(registeredClaims, name) {
			c.extra = append(c.extra, rawMember{name: name, value: string(v)})
		}
	}
	v, has := m["ver"]
	switch {
	case has:
		lit, ok := rawNumber(v)
		n, err := strconv.ParseInt(lit, 10, 64)
		if !ok || err != nil || n < 0 {
			return nil, bad("ver is not an integer >= 0")
		}
		c.Version, c.hasVer = n, true
	}
	return c, nil
}

// audience reads aud: absent (nil), a string, or an array of strings.
func referenceAudience(raw json.RawMessage) ([]string, bool) {
	if raw == nil {
		return nil, true
	}
	if s, ok := rawString(raw); ok {
		return []string{s}, true
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := rawString(it)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// numericDate reads a NumericDate (RFC 7519): a JSON number of seconds
// since the epoch, possibly fractional, between 0 and maxNumericDate.
func referenceNumericDate(raw json.RawMessage) (time.Time, bool) {
	lit, ok := rawNumber(raw)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
