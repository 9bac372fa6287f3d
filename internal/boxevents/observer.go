package boxevents

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Observer hears what the client sees, for self-metrics. Every function is optional, is called
// on the goroutine that made the request, and must be quick and safe for concurrent use. The
// client knows nothing of what is done with it.
type Observer struct {
	// Request is called once per HTTP request sent (each attempt of a retried call, each long
	// poll) with its outcome. A request cancelled by the caller's context is not reported.
	Request func(Request)
	// LongPollReconnect is called when a long poll answers "reconnect" or "max_retries": the
	// caller has to get a new real-time server.
	LongPollReconnect func(message string)
	// PositionRejected is called when Box refused the stream position (see IsPositionRejected).
	PositionRejected func()
}

// RequestKind is what an HTTP request asked for.
type RequestKind int

const (
	// RequestEvents is GET /2.0/events: a page.
	RequestEvents RequestKind = iota
	// RequestRealtimeServer is OPTIONS /2.0/events.
	RequestRealtimeServer
	// RequestLongPoll is a long poll on a real-time server.
	RequestLongPoll
)

// String returns "events", "realtime_server" or "long_poll".
func (k RequestKind) String() string {
	switch k {
	case RequestEvents:
		return "events"
	case RequestRealtimeServer:
		return "realtime_server"
	case RequestLongPoll:
		return "long_poll"
	}
	return "unknown"
}

// Outcome classifies how one HTTP request ended.
type Outcome int

const (
	// OutcomeOK is a 2xx answer that was read and decoded (for a long poll, also our own
	// deadline passing without an answer, which LongPoll reports as MessageTimeout).
	OutcomeOK Outcome = iota
	// OutcomeClientError is a 4xx other than 429, or a 3xx (never followed).
	OutcomeClientError
	// OutcomeServerError is a 5xx.
	OutcomeServerError
	// OutcomeNetwork is a request that got no status, or whose body could not be read: refused
	// or reset connections, TLS failures, the client's own request timeout.
	OutcomeNetwork
	// OutcomeDecode is a 2xx whose body was malformed, truncated or too large.
	OutcomeDecode
	// OutcomeRateLimited is a 429.
	OutcomeRateLimited
)

// String returns "ok", "4xx", "5xx", "network", "decode" or "rate_limited".
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeClientError:
		return "4xx"
	case OutcomeServerError:
		return "5xx"
	case OutcomeNetwork:
		return "network"
	case OutcomeDecode:
		return "decode"
	case OutcomeRateLimited:
		return "rate_limited"
	}
	return "unknown"
}

// Request is one HTTP request as reported to Observer.Request.
type Request struct {
	Kind    RequestKind
	Outcome Outcome
	// RetryAfter is the wait a 429's Retry-After header asked for, 0 without one.
	RetryAfter time.Duration
}

// observe reports one request of kind that ended with err (nil: success). Requests ended by
// the caller's ctx are not reported: nothing went wrong with Box.
func (c *Client) observe(ctx context.Context, kind RequestKind, err error) {
	if c.observer.Request == nil && c.observer.PositionRejected == nil {
		return
	}
	if err != nil && ctx.Err() != nil {
		return
	}
	req := Request{Kind: kind, Outcome: OutcomeOK}
	var (
		apiErr *APIError
		decErr *DecodeError
		reqErr *requestError
	)
	switch {
	case err == nil:
	case errors.As(err, &apiErr):
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			req.Outcome, req.RetryAfter = OutcomeRateLimited, max(apiErr.RetryAfter, 0)
		case apiErr.StatusCode >= 500:
			req.Outcome = OutcomeServerError
		default:
			req.Outcome = OutcomeClientError
		}
	case errors.As(err, &decErr):
		req.Outcome = OutcomeDecode
	case errors.As(err, &reqErr):
		req.Outcome = OutcomeNetwork
	case errors.Is(err, ErrRealtimeRefused):
		req.Outcome = OutcomeClientError
	default:
		return // not a request that reached the network (it could not be built)
	}
	if c.observer.Request != nil {
		c.observer.Request(req)
	}
	if c.observer.PositionRejected != nil && IsPositionRejected(err) {
		c.observer.PositionRejected()
	}
}

// observeMessage reports a long-poll answer that asks for a new real-time server.
func (c *Client) observeMessage(msg string) {
	if c.observer.LongPollReconnect != nil && (msg == MessageReconnect || msg == MessageMaxRetries) {
		c.observer.LongPollReconnect(msg)
	}
}
