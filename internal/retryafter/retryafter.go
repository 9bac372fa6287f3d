// Package retryafter reads the Retry-After header (RFC 9110, section 10.2.3): how long a server
// that answered 429 or 503 asks its clients to wait. It is the one reading of that header for
// the Box API client (internal/boxevents) and the token sources (internal/boxauth).
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxWait bounds a Retry-After: more than anyone waits inside a request.
const maxWait = 24 * time.Hour

// Parse parses a Retry-After value: delay-seconds or an HTTP-date, which is relative to now. ok
// is false for an absent or unparsable value; a date in the past gives 0, and more than a day
// (or a number that overflows) gives a day.
func Parse(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxWait/time.Second) {
			return maxWait, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// OfResponse reads the Retry-After of an answer with headers h. An HTTP date in it is a moment on
// the server's clock: it is read against the answer's own Date header, so that a local clock
// minutes off the server's neither stretches nor shortens the wait, and against local when the
// answer has no usable Date; with a zero local, such a date is then not read (ok false).
func OfResponse(h http.Header, local time.Time) (d time.Duration, ok bool) {
	v := h.Get("Retry-After")
	now, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		if local.IsZero() && strings.ContainsFunc(v, unicode.IsLetter) {
			return 0, false
		}
		now = local
	}
	return Parse(v, now)
}
