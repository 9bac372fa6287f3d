package boxauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/telegraf-box/telegraf-box/internal/retryafter"
)

// ErrRefused is matched (with errors.Is) by every error meaning that the
// credentials themselves were refused: the token endpoint answered a 4xx
// (invalid_grant, invalid_client, ...), a 2xx without an access token or a
// redirect (never followed: it would hand the credentials to another host),
// or a developer token was revoked. Retrying without operator action will not help,
// so callers should back off for long and report the error. Errors not matching
// ErrRefused (network failures, 5xx, 429, timeouts) are transient.
var ErrRefused = errors.New("box credentials refused")

// TokenError is an answer from the token endpoint that carried no usable
// access token. It holds only what is safe to log: the status and Box's OAuth2
// "error" and "error_description" fields, never the response body (which
// might echo a credential).
type TokenError struct {
	StatusCode  int    // HTTP status of the token response
	Code        string // OAuth2 "error", e.g. invalid_grant; may be empty
	Description string // OAuth2 "error_description", sanitized and truncated
	// RedirectHost is, for a 3xx answer, the host its Location names (never
	// the whole URL, whose path and query may carry anything); empty if none.
	RedirectHost string
	// RetryAfter is the wait the answer's Retry-After header asked for (a
	// 429 or 503), 0 without one.
	RetryAfter time.Duration
}

// RetryAfter returns the wait that the Retry-After header of the token
// endpoint's answer in err's chain asked for, or 0 when err carries none. A
// caller must not ask for a token again sooner.
func RetryAfter(err error) time.Duration {
	var te *TokenError
	if errors.As(err, &te) {
		return max(te.RetryAfter, 0)
	}
	return 0
}

// Refused reports whether the answer refuses the credentials (4xx other than
// 408 and 429, a 3xx, or a 2xx without an access token) rather than failing
// transiently (5xx, 408, 429). A token endpoint that redirects is
// misconfigured or hostile: retrying will not help.
func (e *TokenError) Refused() bool {
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests:
		return false
	case e.StatusCode >= 200 && e.StatusCode < 500:
		return true
	}
	return false
}

// Is makes errors.Is(err, ErrRefused) true for refusals.
func (e *TokenError) Is(target error) bool { return target == ErrRefused && e.Refused() }

// Error describes the answer: refused or failed, status, code, description.
func (e *TokenError) Error() string {
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		if e.RedirectHost == "" {
			return fmt.Sprintf("box token endpoint answered HTTP %d, a redirection, which is not followed", e.StatusCode)
		}
		return fmt.Sprintf("box token endpoint answered HTTP %d with a redirect to %s, which is not followed",
			e.StatusCode, e.RedirectHost)
	}
	var b strings.Builder
	if e.Refused() {
		b.WriteString("box token endpoint refused the credentials")
	} else {
		b.WriteString("box token endpoint failed")
	}
	fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.Code == "" && e.Description == "" && e.StatusCode >= 200 && e.StatusCode < 300 {
		b.WriteString(": response has no access_token")
	}
	return b.String()
}

// refusedError marks an error built here (not by the token endpoint) as a
// refusal while keeping its own text and %w chain.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Is reports that every refusedError matches ErrRefused.
func (*refusedError) Is(target error) bool { return target == ErrRefused }

// missingAccessToken is the text golang.org/x/oauth2 v0.34.0 uses for a 2xx
// answer without access_token; it has no typed error for it.
const missingAccessToken = "server response missing access_token"

// classify turns an error from golang.org/x/oauth2 into a safe error.
// *oauth2.RetrieveError is deliberately not wrapped: its Error() may include
// the raw response body, which a misbehaving endpoint could fill with the
// submitted credentials. Other errors (network, parse, context) carry no
// credentials and are wrapped.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 300 && re.Response.StatusCode < 400 {
			return &TokenError{StatusCode: re.Response.StatusCode, RedirectHost: redirectHost(re.Response)}
		}
		te := &TokenError{Code: sanitize(re.ErrorCode, 64), Description: sanitize(re.ErrorDescription, 300)}
		if re.Response != nil {
			te.StatusCode = re.Response.StatusCode
			te.RetryAfter = retryAfterOf(re.Response)
		}
		return te
	}
	if strings.Contains(err.Error(), missingAccessToken) {
		return &TokenError{StatusCode: http.StatusOK} // the actual 2xx status is not reported by oauth2
	}
	return fmt.Errorf("box token request failed: %w", err)
}

// retryAfterOf reads resp's Retry-After. An HTTP date in it is read against
// the answer's own Date header (Box's clock), so that a skewed local clock
// neither stretches nor shortens the wait; without a Date only
// delay-seconds, what Box sends, count.
func retryAfterOf(resp *http.Response) time.Duration {
	d, _ := retryafter.OfResponse(resp.Header, time.Time{})
	return d
}

// redirectHost returns the host a redirect's Location names, resolved
// against the request's URL; empty if there is none or it does not parse.
func redirectHost(resp *http.Response) string {
	loc, err := resp.Location()
	if err != nil {
		return ""
	}
	return sanitize(loc.Host, 255)
}

// sanitize drops control characters and bounds s to maxRunes runes, so a
// hostile or broken endpoint cannot forge log lines or flood them.
func sanitize(s string, maxRunes int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxRunes {
		s = string(r[:maxRunes]) + "..."
	}
	return s
}
