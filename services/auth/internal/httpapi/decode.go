package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 16 << 10

// DecodeJSON reads exactly one JSON value from body into dst: unknown
// fields, trailing data, wrong types, malformed JSON and an empty body are
// *Error values with code invalid_request; a body over the limit set with
// http.MaxBytesReader is returned as the *http.MaxBytesError.
func DecodeJSON(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errorf(CodeInvalidRequest, "the request body must hold a single JSON object")
	default:
		if e := decodeError(err); !isInvalidRequest(e) {
			return e
		}
		return errorf(CodeInvalidRequest, "unexpected data after the JSON object")
	}
}

func isInvalidRequest(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeInvalidRequest
}

// decodeError turns an encoding/json error into a client answer.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, io.EOF):
		return errorf(CodeInvalidRequest, "the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalidRequest, "the request body is truncated JSON")
	case errors.As(err, &syntax):
		return errorf(CodeInvalidRequest, fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errorf(CodeInvalidRequest, "the request body must be a JSON object")
		}
		return errorf(CodeInvalidRequest, fmt.Sprintf("field %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(CodeInvalidRequest, strings.TrimPrefix(err.Error(), "json: "))
	}
	return &Error{Code: CodeInvalidRequest, Message: "the request body is not valid JSON", Err: err}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
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
