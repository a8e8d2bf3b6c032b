package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 16 << 10

// Credentials is the body of register and login.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// DecodeCredentials reads a register or login body: exactly one flat JSON
// object whose members are "username" and "password", each at most once
// and each a string. It walks the body token by token and refuses any
// other value at once, so nesting is never descended into (a body nested
// 10,000 levels deep costs one token), duplicate members cannot make two
// parsers disagree, and member names match exactly (encoding/json would
// also take "USERNAME"). Missing members are left empty for the caller to
// check. Malformed JSON, an empty body, other members, other types and
// trailing data are *Error values with code invalid_request; a body over
// the limit set with http.MaxBytesReader is returned as the
// *http.MaxBytesError.
func DecodeCredentials(body io.Reader) (Credentials, error) {
	var c Credentials
	if err := decodeStrings(body, map[string]*string{"username": &c.Username, "password": &c.Password}); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// RefreshRequest is the body of POST /v1/auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// DecodeRefresh reads a refresh body, {"refresh_token"}, with the rules
// of DecodeCredentials. A missing member is left empty.
func DecodeRefresh(body io.Reader) (RefreshRequest, error) {
	var q RefreshRequest
	if err := decodeStrings(body, map[string]*string{"refresh_token": &q.RefreshToken}); err != nil {
		return RefreshRequest{}, err
	}
	return q, nil
}

// PasswordChange is the body of POST /v1/auth/password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// DecodePasswordChange reads a password change body with the rules of
// DecodeCredentials.
func DecodePasswordChange(body io.Reader) (PasswordChange, error) {
	var q PasswordChange
	if err := decodeStrings(body, map[string]*string{"current_password": &q.CurrentPassword, "new_password": &q.NewPassword}); err != nil {
		return PasswordChange{}, err
	}
	return q, nil
}

// decodeStrings reads one flat JSON object whose members are among fields,
// each at most once and each a string, into fields (see DecodeCredentials).
func decodeStrings(body io.Reader, fields map[string]*string) error {
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return errorf(CodeInvalidRequest, "the request body is empty")
	case err != nil:
		return decodeError(err)
	case tok != json.Delim('{'):
		return errorf(CodeInvalidRequest, "the request body must be a JSON object")
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		if tok == json.Delim('}') {
			break
		}
		name, _ := tok.(string) // the decoder only returns strings as member names
		dst, ok := fields[name]
		if !ok {
			return errorf(CodeInvalidRequest, "unknown field "+quoteName(name))
		}
		if seen[name] {
			return errorf(CodeInvalidRequest, fmt.Sprintf("duplicate field %q", name))
		}
		seen[name] = true
		if tok, err = dec.Token(); err != nil {
			return decodeError(err)
		}
		v, ok := tok.(string)
		if !ok {
			return errorf(CodeInvalidRequest, fmt.Sprintf("field %q must be a string", name))
		}
		*dst = v
	}
	return trailing(dec)
}

// trailing refuses anything but whitespace after the object.
func trailing(dec *json.Decoder) error {
	_, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errorf(CodeInvalidRequest, "the request body must hold a single JSON object")
	}
	if e := decodeError(err); !isInvalidRequest(e) {
		return e
	}
	return errorf(CodeInvalidRequest, "unexpected data after the JSON object")
}

func isInvalidRequest(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeInvalidRequest
}

// decodeError turns an encoding/json error into a client answer; a
// *http.MaxBytesError is returned as is (413). The end of the body is only
// an error inside the object, where it means truncated JSON.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalidRequest, "the request body is truncated JSON")
	case errors.As(err, &syntax):
		return errorf(CodeInvalidRequest, fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	}
	return &Error{Code: CodeInvalidRequest, Message: "the request body is not valid JSON", Err: err}
}

// quoteName quotes a member name for an error message, cut short: it is
// the client's input, echoed back.
func quoteName(name string) string {
	const maxLen = 64
	if len(name) > maxLen {
		return strconv.Quote(strings.ToValidUTF8(name[:maxLen], "")) + "..."
	}
	return strconv.Quote(name)
}

// limitBody caps r's body at MaxBodyBytes; a declared Content-Length over
// the cap is refused before anything is read.
func limitBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > MaxBodyBytes {
		return &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return nil
}
