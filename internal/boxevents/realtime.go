package boxevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Long-poll answers. Box sends the first three; MessageTimeout is LongPoll's own.
const (
	// MessageNewChange: events are waiting; fetch them, then poll again.
	MessageNewChange = "new_change"
	// MessageReconnect: the server timed out without events; fetch a new real-time server.
	MessageReconnect = "reconnect"
	// MessageMaxRetries: this URL was polled too often; fetch a new real-time server.
	MessageMaxRetries = "max_retries"
	// MessageTimeout: no answer within RetryTimeout plus a margin (a half-dead connection);
	// reconnect.
	MessageTimeout = "timeout"
)

// Long-poll limits.
const (
	// DefaultRetryTimeout is used when a RealtimeServer has no retry_timeout (Box sends 610 s).
	DefaultRetryTimeout = 610 * time.Second
	// maxRetryTimeout caps a RealtimeServer's retry_timeout: a half-dead connection is noticed
	// within the hour whatever the server says, and seconds by the billion would overflow a
	// time.Duration into a poll that times out at once (then a GET and a poll ten times a second).
	maxRetryTimeout = time.Hour
	// longPollMargin is added to RetryTimeout: the server answers "reconnect" at about that time,
	// and that answer should win over our own deadline.
	longPollMargin = 10 * time.Second
	// heldPollCut is how long a long poll must have been held for the connection's loss to be
	// the network's idle timeout (a proxy, firewall or NAT closing connections that carried
	// nothing for minutes, fewer than Box's 610 s) rather than a failure: it is MessageTimeout.
	heldPollCut = 30 * time.Second
	// maxLongPollBody bounds a long-poll answer, which is a few bytes.
	maxLongPollBody = 64 << 10
)

// RealtimeServer is an entry of OPTIONS /2.0/events: where to long-poll for a user stream.
type RealtimeServer struct {
	// Type is "realtime_server".
	Type string `json:"type"`
	// URL is the long-poll URL. Its query holds the channel id: never log it.
	URL string `json:"url"`
	// TTL is how long the URL is valid, in minutes.
	TTL int `json:"ttl"`
	// MaxRetries is how many long polls the URL accepts.
	MaxRetries int `json:"max_retries"`
	// RetryTimeout is how long the server may hold a poll, in seconds.
	RetryTimeout int `json:"retry_timeout"`
}

// UnmarshalJSON decodes a RealtimeServer leniently: ttl, max_retries and retry_timeout may be
// strings or numbers (Box sends both), and a value that is not an object gives the zero entry.
func (s *RealtimeServer) UnmarshalJSON(data []byte) error {
	if !json.Valid(data) {
		return errors.New("realtime server: malformed JSON")
	}
	*s = RealtimeServer{}
	if jsonKind(data) != "an object" {
		return nil
	}
	var w struct {
		Type         flexString `json:"type"`
		URL          flexString `json:"url"`
		TTL          flexInt    `json:"ttl"`
		MaxRetries   flexInt    `json:"max_retries"`
		RetryTimeout flexInt    `json:"retry_timeout"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("realtime server: %w", err)
	}
	*s = RealtimeServer{
		Type:         string(w.Type),
		URL:          string(w.URL),
		TTL:          int(w.TTL),
		MaxRetries:   int(w.MaxRetries),
		RetryTimeout: int(w.RetryTimeout),
	}
	return nil
}

// RealtimeServer asks OPTIONS /2.0/events for a long-poll server for the user stream stream and
// returns the first entry of type "realtime_server" (or the first entry if none has that type).
// A non-empty stream is sent as stream_type, as Box's Python legacy and .NET SDKs do: a channel
// opened for "all" announces changes that a "changes" or "sync" stream does not show, which
// would wake the caller for pages without news. An empty stream sends no parameter (Box's
// default, all). Enterprise streams have no long poll and fail without a request. It fails with
// a *DecodeError when there is no entry or its URL is not an absolute http(s) URL.
// Retries are as for Events.
func (c *Client) RealtimeServer(ctx context.Context, stream StreamType) (RealtimeServer, error) {
	var (
		v      url.Values
		params string
	)
	if stream != "" {
		t, err := ParseStreamType(string(stream))
		if err != nil {
			return RealtimeServer{}, fmt.Errorf("realtime server: %w", err)
		}
		if t.Enterprise() {
			return RealtimeServer{}, fmt.Errorf("realtime server: stream type %q has no long poll (want all, changes or sync)", t)
		}
		v = url.Values{"stream_type": {string(t)}}
		params = "stream_type=" + string(t)
	}
	cl := c.apiCall(http.MethodOptions, v, params)
	var srv RealtimeServer
	err := c.do(ctx, cl, func(r io.Reader) error {
		entries, err := decodeRealtimeServers(r)
		if err != nil {
			return err
		}
		srv, err = pickRealtimeServer(entries)
		return err
	})
	return srv, err
}

// decodeRealtimeServers decodes the RealtimeServers body.
func decodeRealtimeServers(r io.Reader) ([]RealtimeServer, error) {
	var body struct {
		Entries []RealtimeServer `json:"entries"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&body); err != nil {
		return nil, unexpectedEOF(err)
	}
	return body.Entries, nil
}

// pickRealtimeServer chooses the first "realtime_server" entry, or the first entry, and checks its URL.
func pickRealtimeServer(entries []RealtimeServer) (RealtimeServer, error) {
	if len(entries) == 0 {
		return RealtimeServer{}, errors.New("no realtime server in the answer")
	}
	srv := entries[0]
	for _, e := range entries {
		if e.Type == "realtime_server" {
			srv = e
			break
		}
	}
	if _, err := parseRealtimeURL(srv.URL); err != nil {
		return RealtimeServer{}, err
	}
	return srv, nil
}

// parseRealtimeURL parses a real-time server URL. Its errors never quote the URL.
func parseRealtimeURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("realtime server url is empty")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("realtime server url is not an absolute http or https url")
	}
	return u, nil
}

// longPollURL adds stream_position to the real-time URL, keeping its query (and the order of its
// parameters) as Box sent it.
func longPollURL(u *url.URL, pos StreamPosition) *url.URL {
	out := *u
	if pos == "" {
		return &out
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err == nil && q.Has("stream_position") {
		q.Set("stream_position", string(pos))
		out.RawQuery = q.Encode()
		return &out
	}
	param := "stream_position=" + url.QueryEscape(string(pos))
	if out.RawQuery == "" {
		out.RawQuery = param
	} else {
		out.RawQuery += "&" + param
	}
	out.ForceQuery = false
	return &out
}

// LongPoll waits on the real-time server srv for changes after pos and returns Box's message:
// MessageNewChange, MessageReconnect, MessageMaxRetries, or any other message as sent. Without an
// answer within srv.RetryTimeout (DefaultRetryTimeout when 0, at most an hour) plus 10 s it returns MessageTimeout
// and no error, as it does when the connection is lost, or a proxy answers 504 Gateway Timeout, once
// the request has been on the wire for 30 s (a proxy's or NAT's idle timeout, often a few minutes,
// cuts every poll that sees no news).
// A cancelled ctx returns ctx.Err(). The long poll is never retried here: the caller's loop decides.
//
// The token goes only where it belongs (see Config.BaseURL): to the base URL's host, or over
// https to a Box host; As-User never goes to the real-time server. Box documents its real-time
// URLs as plain http on a Box host, so for those LongPoll first tries the same URL over https
// with the token; if https cannot connect (dial, TLS or certificate failure, or no request on
// the wire within 30 s), it polls the http URL without credentials and keeps doing so for that
// host for an hour before trying https again. Any other URL is polled without credentials.
//
// Non-2xx answers are *APIError (a 401 to a poll that carried the token also invalidates it),
// except that a 401 or 403 to a poll sent without credentials is an error matching
// ErrRealtimeRefused: the caller should fall back to polling the events endpoint.
func (c *Client) LongPoll(ctx context.Context, srv RealtimeServer, pos StreamPosition) (string, error) {
	base, err := parseRealtimeURL(srv.URL)
	if err != nil {
		return "", fmt.Errorf("long poll: %w", err)
	}
	u := longPollURL(base, pos)
	timeout := DefaultRetryTimeout
	if srv.RetryTimeout > 0 {
		timeout = time.Duration(min(srv.RetryTimeout, int(maxRetryTimeout/time.Second))) * time.Second
	}
	if c.mayAuthorize(u) {
		return c.poll(ctx, u, pos, timeout, pollAuthorized)
	}
	var httpsErr error // why https could not connect, just now
	if up, ok := upgradeURL(u); ok && c.httpsWorthTrying(up.Hostname()) {
		msg, err := c.poll(ctx, up, pos, timeout, pollUpgrade)
		connected := !errors.Is(err, errNoConnect)
		c.noteHTTPS(up.Hostname(), connected)
		if connected {
			return msg, err
		}
		httpsErr = err
	}
	msg, err := c.poll(ctx, u, pos, timeout, pollAnonymous)
	if httpsErr != nil && errors.Is(err, ErrRealtimeRefused) {
		// The refusal ends the long polls; what stopped https (a proxy or firewall that
		// blocks the realtime servers, often both ways) is what can be fixed.
		err = fmt.Errorf("%w, after the %w", err, httpsErr)
	}
	return msg, err
}

// pollMode is how one long-poll request is sent.
type pollMode int

const (
	// pollAnonymous sends no credentials.
	pollAnonymous pollMode = iota
	// pollAuthorized sends the token.
	pollAuthorized
	// pollUpgrade sends the token over https to a Box host given as http, and reports with
	// errNoConnect a request that never made it onto the wire.
	pollUpgrade
)

// errNoConnect is an https upgrade attempt that could not connect (wrapped with the reason); the
// caller falls back.
var errNoConnect = errors.New("https upgrade could not connect")

// poll sends one long-poll request to u, reads the answer and reports it to the observer. An
// https upgrade that could not connect is not reported: the http poll that follows is.
func (c *Client) poll(ctx context.Context, u *url.URL, pos StreamPosition, timeout time.Duration, mode pollMode) (string, error) {
	msg, err := c.pollOnce(ctx, u, pos, timeout, mode)
	if errors.Is(err, errNoConnect) {
		return msg, err
	}
	c.observe(ctx, RequestLongPoll, err)
	if err == nil {
		c.observeMessage(msg)
	}
	return msg, err
}

// pollOnce sends one long-poll request to u and reads the answer.
func (c *Client) pollOnce(ctx context.Context, u *url.URL, pos StreamPosition, timeout time.Duration, mode pollMode) (string, error) {
	var params string
	if pos != "" {
		params = "stream_position=" + safeParam(string(pos))
	}
	cl := &call{method: http.MethodGet, url: u, where: safeURL(u), params: params}

	var token string
	if mode != pollAnonymous {
		var err error
		if token, err = c.token(ctx); err != nil {
			return "", err
		}
	}
	pctx, cancel := c.withTimeout(ctx, timeout+longPollMargin)
	defer cancel()
	rctx := pctx
	var wrote atomic.Bool
	if mode == pollUpgrade {
		var stop context.CancelFunc
		rctx, stop = c.connectProbe(pctx, &wrote)
		defer stop()
	}
	// When the request went on the wire: a poll is held from then on, not while it connects.
	var sent atomic.Pointer[time.Time]
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				now := c.clock.Now()
				sent.CompareAndSwap(nil, &now)
			}
		},
	})
	req, err := c.newRequest(rctx, cl, token)
	if err != nil {
		return "", err
	}
	// heldLong reports whether the request has been on the wire heldPollCut or more.
	heldLong := func() bool {
		at := sent.Load()
		return at != nil && c.clock.Since(*at) >= heldPollCut
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if mode == pollUpgrade && ctx.Err() == nil && !wrote.Load() {
			cause := stripURL(err)
			if errors.Is(context.Cause(rctx), errConnectTimeout) {
				cause = errConnectTimeout
			}
			return "", fmt.Errorf("%w: %w", errNoConnect, cause)
		}
		if ctx.Err() == nil && heldLong() {
			return MessageTimeout, nil // cut by an idle timeout on the way, see heldPollCut
		}
		return c.longPollFailed(ctx, pctx, cl, err)
	}
	defer drainAndClose(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode == http.StatusGatewayTimeout && heldLong() {
			// A proxy's read timeout on a held poll (plain http through a forward proxy): it gave
			// up waiting, as an idle timeout cuts a tunnel, see heldPollCut.
			return MessageTimeout, nil
		}
		switch {
		case mode == pollAnonymous && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
			return "", realtimeRefused(u, resp.StatusCode)
		case resp.StatusCode == http.StatusUnauthorized:
			c.auth.Invalidate(token)
		}
		return "", newAPIError(cl, resp, c.clock.Now())
	}
	var answer struct {
		Message *flexString `json:"message"`
	}
	body := &boundedReader{r: resp.Body, n: maxLongPollBody, limit: maxLongPollBody}
	if err := json.NewDecoder(body).Decode(&answer); err != nil {
		if ctx.Err() != nil || pctx.Err() != nil {
			return c.longPollFailed(ctx, pctx, cl, err)
		}
		return "", c.bodyError(ctx, pctx, cl, resp, body, unexpectedEOF(err))
	}
	if answer.Message == nil {
		return "", &DecodeError{Method: cl.method, URL: cl.where, Params: cl.params, Err: errors.New("answer has no message")}
	}
	return string(*answer.Message), nil
}

// longPollFailed maps a failed long poll: our deadline is MessageTimeout, not an error.
func (*Client) longPollFailed(ctx, pctx context.Context, cl *call, err error) (string, error) {
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if timedOut(pctx) {
		return MessageTimeout, nil
	}
	return "", &requestError{call: cl.String(), err: stripURL(err)}
}

// String describes the server without its URL's query (which holds the channel id).
func (s RealtimeServer) String() string {
	where := "(invalid url)"
	if u, err := parseRealtimeURL(s.URL); err == nil {
		where = safeURL(u)
	}
	return where + " ttl=" + strconv.Itoa(s.TTL) + "m max_retries=" + strconv.Itoa(s.MaxRetries) +
		" retry_timeout=" + strconv.Itoa(s.RetryTimeout) + "s"
}
