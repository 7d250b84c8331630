package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// apiError is an error with its HTTP status, written as the JSON error
// envelope (or, under /v2, the Open Inference Protocol's {"error": "..."}).
type apiError struct {
	status     int
	msg        string
	field      string
	hint       string
	retryAfter int // seconds, for 429 and 503
	cause      error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.cause }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// fieldError is a 422 naming the offending field.
func fieldError(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON error envelope of every route outside /v2.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error: the HTTP code, a status name in the style
// of Google APIs (so Perspective API clients read it), a message, the
// offending field for validation errors, and the request id to quote.
type ErrorDetail struct {
	Code      int    `json:"code"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id"`
}

var statusNames = map[int]string{
	http.StatusBadRequest:            "BAD_REQUEST",
	http.StatusNotFound:              "NOT_FOUND",
	http.StatusMethodNotAllowed:      "METHOD_NOT_ALLOWED",
	http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE",
	http.StatusUnsupportedMediaType:  "UNSUPPORTED_MEDIA_TYPE",
	http.StatusUnprocessableEntity:   "INVALID_ARGUMENT",
	http.StatusTooManyRequests:       "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError:   "INTERNAL",
	http.StatusServiceUnavailable:    "UNAVAILABLE",
	http.StatusGatewayTimeout:        "DEADLINE_EXCEEDED",
	StatusClientClosedRequest:        "CANCELLED",
}

// StatusClientClosedRequest is the status logged (and counted) for a
// request whose client went away before the answer: nginx's 499. Nobody
// receives it; it keeps client disconnects apart from server failures.
const StatusClientClosedRequest = 499

const ctxErrorKey = "agate.error"

// abort writes e as the response and stops the handler chain.
func abort(c *gin.Context, e *apiError) {
	if e.retryAfter > 0 {
		c.Header("Retry-After", fmt.Sprint(e.retryAfter))
	}
	c.Set(ctxErrorKey, e)
	if strings.HasPrefix(c.Request.URL.Path, "/v2") {
		c.AbortWithStatusJSON(e.status, V2Error{Error: e.msg})
		return
	}
	name := statusNames[e.status]
	if name == "" {
		name = strings.ToUpper(strings.ReplaceAll(http.StatusText(e.status), " ", "_"))
	}
	c.AbortWithStatusJSON(e.status, ErrorBody{Error: ErrorDetail{Code: e.status, Status: name, Message: e.msg,
		Field: e.field, Hint: e.hint, RequestID: requestID(c)}})
}

// V2Error is the Open Inference Protocol's error body.
type V2Error struct {
	Error string `json:"error"`
}

// decodeJSON reads the request body into dst: 415 for a content type other
// than application/json or */*+json, 413 past the body limit, 400 for
// malformed JSON, 422 (naming the field) for a value of the wrong type.
// text/plain and form bodies are refused so that a web page cannot make a
// browser post to an internal agate without a CORS preflight (a body
// without a content type is refused too: a browser can send one).
func decodeJSON(c *gin.Context, dst any) *apiError {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		msg := fmt.Sprintf("content type %q is not application/json", ct)
		if ct == "" {
			msg = "the request has no Content-Type: the body must be application/json"
		}
		return &apiError{status: http.StatusUnsupportedMediaType, msg: msg,
			hint: "send the body with Content-Type: application/json (curl --json '{...}' URL)"}
	}
	dec := json.NewDecoder(c.Request.Body)
	err = dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				return tooLarge(mbe.Limit)
			}
			return errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the top-level value")
		}
		return nil
	}
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the request body is empty")
	case errors.As(err, &se):
		return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se), cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			field = "body"
		}
		return fieldError(field, "must be %s, got %s", jsonKind(ute.Type.Kind().String()), ute.Value)
	}
	return &apiError{status: http.StatusBadRequest, msg: "malformed JSON: " + err.Error(), cause: err}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	case "ptr", "interface":
		return "a value"
	}
	return "a number"
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", limit)
}

// inferenceError maps an error from a model call to a response.
func inferenceError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, ErrQueueFull):
		return &apiError{status: http.StatusTooManyRequests, msg: "the model's queue is full: retry later", retryAfter: 1, cause: err}
	case errors.Is(err, ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, msg: "the server is shutting down", retryAfter: 1, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, msg: "the request timed out", cause: err}
	case errors.Is(err, context.Canceled):
		return &apiError{status: StatusClientClosedRequest, msg: "the client closed the request", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, msg: "inference failed; quote the request id when reporting it", cause: err}
}
