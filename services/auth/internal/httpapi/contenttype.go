package httpapi

import (
	"mime"
	"net/http"
	"strings"
)

// JSONMediaType is the only media type the routes with a JSON body accept.
const JSONMediaType = "application/json"

// errNotJSON is the 415 answer to a body that is not declared JSON.
var errNotJSON = errorf(CodeUnsupportedMediaType, "the request body must be JSON, sent with Content-Type: application/json")

// CheckJSONContentType accepts exactly one Content-Type header whose media
// type is application/json (any case), with optional parameters; a
// charset, when given, must be utf-8 (RFC 8259). Anything else, a missing
// header included, is an *Error with code unsupported_media_type (415).
//
// The check is a CSRF defence, not a formality: a page on another site may
// post text/plain, application/x-www-form-urlencoded or multipart/form-data
// without a CORS preflight, but not application/json, so refusing the
// others keeps such pages from logging a visitor in as someone else or
// spending the rate limits of usernames from many visitors' addresses.
func CheckJSONContentType(h http.Header) error {
	values := h.Values("Content-Type")
	if len(values) != 1 {
		return errNotJSON
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil || mediaType != JSONMediaType {
		return errNotJSON
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errNotJSON
	}
	return nil
}

// requireJSON answers 415 before next runs unless the request declares a
// JSON body: next's rate limiting and password hashing never see it.
func (s *Server) requireJSON(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := CheckJSONContentType(r.Header); err != nil {
			w.Header().Set("Accept", JSONMediaType) // RFC 9110 section 15.5.16
			s.fail(w, r, err)
			return
		}
		next(w, r)
	}
}
