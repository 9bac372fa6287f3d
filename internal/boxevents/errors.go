package boxevents

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telegraf-box/telegraf-box/internal/retryafter"
)

// Every error in this file is safe to log. Descriptions carry the method, a path (or
// scheme://host/path for the real-time server, whose query holds the channel id), a curated list
// of parameters, the status, Box's code, message and request id, and nothing else: no token, no
// Authorization header, no full URL.

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// APIError is a non-2xx answer from Box (or from the real-time server). A 3xx is one too: the
// client never follows redirects, and its Message names only the target host.
type APIError struct {
	// Method is the HTTP method.
	Method string
	// URL is the request path (scheme://host/path for the real-time server); never a query.
	URL string
	// Params are the parameters that identify the request, e.g. "stream_type=all, stream_position=123".
	Params string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is Box's error code, e.g. "rate_limit_exceeded"; empty when the body had none.
	Code string
	// Message is Box's message (bounded, control characters removed), a note on an
	// unreadable body such as "non-JSON error body (text/html)", or for a 3xx
	// "redirect to HOST not followed".
	Message string
	// RequestID is Box's request id, from the body or the box-request-id header.
	RequestID string
	// HelpURL is Box's help_url.
	HelpURL string
	// ContextInfo is Box's context_info, raw.
	ContextInfo json.RawMessage
	// RetryAfter is the wait the Retry-After header asked for, 0 without one.
	RetryAfter time.Duration
}

// Error describes the failure, e.g. "GET /2.0/events (stream_type=all, stream_position=123): 429
// rate_limit_exceeded: Request rate limit exceeded (request_id abc)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(describe(e.Method, e.URL, e.Params))
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	b.WriteByte(' ')
	switch {
	case isRedirect(e.StatusCode) && e.Code == "":
		// "307 redirect to evil.example.net not followed": the note is the whole story.
		b.WriteString(e.Message)
	case e.Code != "":
		b.WriteString(e.Code)
	default:
		b.WriteString(strings.ToLower(http.StatusText(e.StatusCode)))
	}
	if e.Message != "" && (!isRedirect(e.StatusCode) || e.Code != "") {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// isRedirect reports whether status is a 3xx, which the client never follows.
func isRedirect(status int) bool { return status >= 300 && status <= 399 }

// Retryable reports whether repeating the request may succeed: 429 and 5xx except 501.
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests ||
		(e.StatusCode >= 500 && e.StatusCode <= 599 && e.StatusCode != http.StatusNotImplemented)
}

// AuthError means no usable token: the Authenticator failed, or the API refused a freshly
// fetched token with a second 401. Retrying soon will not help.
type AuthError struct {
	// Err is the Authenticator's error, or the *APIError of the second 401.
	Err error
}

// Error describes the failure. Only the API refusing a fresh token is called an authentication
// failure: the Authenticator's error (a refusal, or a network failure on the way to the token
// endpoint) says itself what went wrong, and "authentication failed" in front of "no such host"
// would send the reader to check credentials that were never sent.
func (e *AuthError) Error() string {
	var apiErr *APIError
	if errors.As(e.Err, &apiErr) {
		return "box authentication failed: " + e.Err.Error()
	}
	return "getting a box access token: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.Err }

// DecodeError is a 2xx answer whose body could not be used: malformed, truncated, oversized, or
// JSON of the wrong shape.
type DecodeError struct {
	// Method is the HTTP method.
	Method string
	// URL is the request path (scheme://host/path for the real-time server); never a query.
	URL string
	// Params are the parameters that identify the request, the stream position among them.
	Params string
	// Err is the cause; it wraps io.ErrUnexpectedEOF when the body was truncated.
	Err error
}

// Error describes the failure.
func (e *DecodeError) Error() string {
	return describe(e.Method, e.URL, e.Params) + ": decoding response: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Retryable reports whether the body was truncated, so that asking again may succeed.
func (e *DecodeError) Retryable() bool {
	return errors.Is(e.Err, io.ErrUnexpectedEOF)
}

// IsRetryable reports whether err is worth retrying later: 429, 5xx except 501, network errors
// (not certificate failures) and truncated bodies. Cancellations and auth failures are not.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var authErr *AuthError
	if errors.As(err, &authErr) {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Retryable()
	}
	var decErr *DecodeError
	if errors.As(err, &decErr) {
		return decErr.Retryable()
	}
	var reqErr *requestError
	if errors.As(err, &reqErr) {
		return reqErr.retryable()
	}
	return false
}

// IsAuth reports whether err is an *AuthError: credentials need attention, back off long.
func IsAuth(err error) bool {
	var authErr *AuthError
	return errors.As(err, &authErr)
}

// IsForbidden reports whether Box answered 403: the token is valid, but the app's scopes or the
// account's rights do not allow the request.
func IsForbidden(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden
}

// IsPositionRejected reports whether Box refused the request with a 400 that mentions the stream
// position ("stream_position" or "stream position", any case, in the code, message or
// context_info): the checkpoint is unusable and must be replaced (for example by "now").
func IsPositionRejected(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		return false
	}
	return mentionsPosition([]byte(apiErr.Code+" "+apiErr.Message)) || mentionsPosition(apiErr.ContextInfo)
}

// mentionsPosition reports whether b names the stream position. Box's real answer to an expired
// or unknown position is 400 bad_request "Invalid stream position", words with a space and no
// parameter name (elastic/integrations#18413); a collector that only looked for the parameter
// name stopped for good on it.
func mentionsPosition(b []byte) bool {
	b = bytes.ToLower(b)
	return bytes.Contains(b, []byte("stream_position")) || bytes.Contains(b, []byte("stream position"))
}

// requestError is a round trip that failed before a status arrived, or whose body could not be
// read: a network error.
type requestError struct {
	call string
	err  error
}

func (e *requestError) Error() string { return e.call + ": " + e.err.Error() }

func (e *requestError) Unwrap() error { return e.err }

// retryable is true except for certificate failures, which repeat identically.
func (e *requestError) retryable() bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		authorityErr x509.UnknownAuthorityError
		hostErr      x509.HostnameError
		invalidErr   x509.CertificateInvalidError
	)
	return !errors.As(e.err, &verifyErr) && !errors.As(e.err, &authorityErr) &&
		!errors.As(e.err, &hostErr) && !errors.As(e.err, &invalidErr)
}

// errTimeout marks a request that hit the client's own deadline.
var errTimeout = errors.New("request timed out")

// errConnectTimeout ends an https attempt that could not connect in time.
var errConnectTimeout = errors.New("https connection not established in time")

// ErrRealtimeRefused means the real-time server answered 401 or 403 to a long poll that was sent
// without credentials, because its URL is not one the token may be sent to (see LongPoll). The
// real-time server is then unusable for this client: fall back to polling GET /2.0/events.
// The error matching it (errors.Is) names the status and the real-time host, nothing else.
var ErrRealtimeRefused = errors.New("realtime server refused a long poll sent without credentials")

// realtimeRefused describes a credential-less long poll answered 401 or 403.
func realtimeRefused(u *url.URL, status int) error {
	return fmt.Errorf("%w: %s answered %d %s", ErrRealtimeRefused, clean(u.Host, 256), status,
		strings.ToLower(http.StatusText(status)))
}

// bodyTooLargeError is a body longer than the configured bound.
type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return "response body exceeds " + byteSize(e.limit)
}

func isBodyTooLarge(err error) bool {
	var tooLarge *bodyTooLargeError
	return errors.As(err, &tooLarge)
}

// clientError is Box's ClientError body.
type clientError struct {
	Type        flexString      `json:"type"`
	Status      flexInt         `json:"status"`
	Code        flexString      `json:"code"`
	Message     flexString      `json:"message"`
	RequestID   flexString      `json:"request_id"`
	ContextInfo json.RawMessage `json:"context_info"`
	HelpURL     flexString      `json:"help_url"`
}

// newAPIError builds the error for a non-2xx response, reading at most maxErrorBody of its body.
// A Retry-After date is a moment on the server's clock: it is read against the answer's Date,
// so that a local clock (local) minutes off Box's neither stretches nor shortens the wait, and
// against local only when the answer has no Date.
func newAPIError(cl *call, resp *http.Response, local time.Time) *APIError {
	e := &APIError{Method: cl.method, URL: cl.where, Params: cl.params, StatusCode: resp.StatusCode}
	if d, ok := retryafter.OfResponse(resp.Header, local); ok {
		e.RetryAfter = d
	}
	if isRedirect(resp.StatusCode) {
		// Only the target host is named: the Location's path and query may carry anything,
		// a channel id or a token among them.
		e.Message = "redirect not followed"
		if loc, err := resp.Location(); err == nil && loc.Host != "" {
			e.Message = "redirect to " + clean(loc.Host, 256) + " not followed"
		}
		e.RequestID = clean(resp.Header.Get("Box-Request-Id"), 64)
		return e
	}
	// A read error is not reported: the status code is the error, and the part of the body that
	// arrived is described like a whole one.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) //nolint:errcheck // deliberately ignored, see above
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
	case body[0] == '{':
		var ce clientError
		if err := json.Unmarshal(body, &ce); err != nil {
			e.Message = "malformed JSON error body"
			break
		}
		e.Code = clean(string(ce.Code), 64)
		e.Message = clean(string(ce.Message), 256)
		e.RequestID = clean(string(ce.RequestID), 64)
		e.HelpURL = clean(string(ce.HelpURL), 256)
		if len(ce.ContextInfo) > 0 && string(ce.ContextInfo) != "null" {
			e.ContextInfo = ce.ContextInfo
		}
	default:
		mt := mediaType(resp.Header.Get("Content-Type"))
		if mt == "" {
			mt = "no content type"
		}
		e.Message = "non-JSON error body (" + mt + ")"
	}
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("Box-Request-Id"), 64)
	}
	return e
}

// describe formats "METHOD where (params)".
func describe(method, where, params string) string {
	if params == "" {
		return method + " " + where
	}
	return method + " " + where + " (" + params + ")"
}

// stripURL drops the *url.Error layers that net/http adds, because they quote the full URL.
func stripURL(err error) error {
	for {
		// Only the outer layers are net/http's: errors.As would also strip a *url.Error wrapped
		// deeper, dropping the text around it.
		urlErr, ok := err.(*url.Error) //nolint:errorlint // outer layers only, see above
		if !ok {
			return err
		}
		err = urlErr.Err
	}
}

// safeURL returns scheme://host/path of u: the real-time URL's query holds its channel id.
func safeURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// safeParam bounds a parameter value echoed in errors.
func safeParam(s string) string {
	return clean(s, 64)
}

// mediaType returns the lowercase media type of a Content-Type header, or "".
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// clean makes server-provided text fit for a log line: control characters become spaces, the
// text is trimmed, ends without a period and holds at most maxBytes bytes.
func clean(s string, maxBytes int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimRight(strings.TrimSpace(s), ".")
}

// byteSize formats n as "32 MiB", "64 KiB" or "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
