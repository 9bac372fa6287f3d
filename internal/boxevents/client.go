// Package boxevents is a client for Box's Events API: pages from GET /2.0/events, the real-time
// server from OPTIONS /2.0/events and its long poll.
//
// It knows nothing about credentials (an Authenticator supplies tokens) nor about Telegraf.
// Every error it returns is safe to log: none contains a token, an Authorization header, a
// client secret or a real-time channel id.
//
// The token goes only where it belongs: to the base URL's own host, or over https to a Box host
// (box.com, box.net and their subdomains); never over plain http except to a loopback base URL,
// and never after a redirect, which the client does not follow.
package boxevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultBaseURL is Box's API root.
	DefaultBaseURL = "https://api.box.com"
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "telegraf-box"
	// DefaultRequestTimeout bounds one API request attempt.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultMaxAttempts bounds the attempts of one API request (Box's SDKs use 5).
	DefaultMaxAttempts = 5
	// DefaultMaxBodyBytes bounds a response body; a full page of 500 events is well below 1 MiB.
	DefaultMaxBodyBytes = 32 << 20
)

// eventsPath is the events endpoint below Config.BaseURL.
const eventsPath = "/2.0/events"

// Authenticator supplies access tokens. internal/boxauth's sources implement it.
type Authenticator interface {
	// Token returns a valid access token, cached when possible. Its error is wrapped in an
	// *AuthError.
	Token(ctx context.Context) (string, error)
	// Invalidate reports that the API answered 401 for token, so Token must not return it again.
	Invalidate(token string)
}

// Config configures a Client. Only Auth is required.
type Config struct {
	// BaseURL is the API root; events live at BaseURL+"/2.0/events". Default DefaultBaseURL.
	// It must be https, except on a loopback address (a simulated Box on this machine).
	BaseURL string
	// HTTPClient sends the requests; TLS and proxies live in its transport. Its Timeout must be 0
	// because the client sets its own deadlines (the long poll is held for ten minutes). New uses
	// a shallow copy whose CheckRedirect refuses every redirect; the given client is not changed.
	// Default: a new http.Client using http.DefaultTransport.
	HTTPClient *http.Client
	// Auth supplies access tokens.
	Auth Authenticator
	// Clock times requests, retries and the long poll. Default clock.New().
	Clock clock.Clock
	// UserAgent is sent as User-Agent. Default DefaultUserAgent.
	UserAgent string
	// AsUser, when set, is sent as the As-User header to read that user's stream with a service token.
	AsUser string
	// RequestTimeout bounds each API request attempt, body included. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxAttempts bounds the attempts of one API request for 429, 5xx, network errors and
	// truncated bodies. Default DefaultMaxAttempts.
	MaxAttempts int
	// MaxBodyBytes bounds any response body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Observer hears about every request and its outcome (self-metrics). Optional.
	Observer Observer
	// KeepEventJSON keeps each event's whole JSON text in Event.JSON (compact). Off by
	// default: it roughly doubles the text a page keeps.
	KeepEventJSON bool
}

// Client talks to the Box Events API. It is safe for concurrent use.
type Client struct {
	events         *url.URL // BaseURL + eventsPath, without query
	http           *http.Client
	auth           Authenticator
	clock          clock.Clock
	userAgent      string
	asUser         string
	requestTimeout time.Duration
	maxAttempts    int
	maxBody        int64
	keepJSON       bool
	jitter         func() float64 // a factor in [0.5, 1.5) for backoff; tests pin it
	scratch        scratchPool    // page bodies' buffers and spans, for the next page
	observer       Observer

	httpsMu     sync.Mutex
	httpsFailed map[string]time.Time // real-time host → when https to it last failed to connect
}

// New returns a Client for cfg, with defaults for zero fields.
func New(cfg Config) (*Client, error) {
	if cfg.Auth == nil {
		return nil, errors.New("boxevents: config has no authenticator")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("boxevents: base url must be an absolute http or https url")
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		// Plain http would put the token on the wire in clear text; only a simulated Box on
		// this machine (tests, the demo) may be reached that way.
		return nil, errors.New("boxevents: base url must use https unless it is a loopback address")
	}
	events := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: strings.TrimRight(base.Path, "/") + eventsPath}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.HTTPClient.Timeout != 0 {
		return nil, errors.New("boxevents: http client timeout must be 0 (the client sets per-request deadlines)")
	}
	// Redirects are never followed: net/http would forward As-User to any host, and Authorization
	// to the same host under another path or scheme, and no Box events endpoint redirects. A
	// shallow copy keeps the caller's client (and its transport, shared) as it was.
	hc := *cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Client{
		events:         events,
		http:           &hc,
		auth:           cfg.Auth,
		clock:          cfg.Clock,
		userAgent:      cfg.UserAgent,
		asUser:         cfg.AsUser,
		requestTimeout: cfg.RequestTimeout,
		maxAttempts:    cfg.MaxAttempts,
		maxBody:        cfg.MaxBodyBytes,
		observer:       cfg.Observer,
		keepJSON:       cfg.KeepEventJSON,
		jitter:         func() float64 { return 0.5 + rand.Float64() }, //nolint:gosec // G404: backoff jitter needs no cryptographic randomness
		httpsFailed:    make(map[string]time.Time),
	}, nil
}

// call is one API call: what is needed to (re)build its request and to describe it safely.
// Its URL, stream position included, is fixed before the first attempt, so every retry resends
// the original position (box-codegen#583).
type call struct {
	method string
	url    *url.URL
	where  string // safe location: a path, or scheme://host/path for foreign hosts
	params string // safe, curated parameters: "stream_type=all, stream_position=123"
	asUser bool   // send As-User (Box API calls, not the real-time server)
	kind   RequestKind
	date   time.Time // the Date header of the last 2xx answer, zero if none or unreadable
}

// String describes the call for errors: "GET /2.0/events (stream_type=all, stream_position=123)".
func (cl *call) String() string { return describe(cl.method, cl.where, cl.params) }

// apiCall prepares a call to the events endpoint with query v.
func (c *Client) apiCall(method string, v url.Values, params string) *call {
	u := *c.events
	u.RawQuery = v.Encode()
	kind := RequestEvents
	if method == http.MethodOptions {
		kind = RequestRealtimeServer
	}
	return &call{method: method, url: &u, where: u.Path, params: params, asUser: true, kind: kind}
}

// newRequest builds the request for one attempt of cl.
func (c *Client) newRequest(ctx context.Context, cl *call, token string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url.String(), nil)
	if err != nil {
		// The error would quote the URL; describe the call instead.
		return nil, fmt.Errorf("%s: cannot build request", cl)
	}
	// The credential check is here, where every request is built, so that no path can send
	// the token or As-User somewhere mayAuthorize does not allow.
	if token != "" && c.mayAuthorize(cl.url) {
		req.Header.Set("Authorization", "Bearer "+token)
		if cl.asUser && c.asUser != "" {
			req.Header.Set("As-User", c.asUser)
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// do runs cl until it succeeds, fails for good, or runs out of attempts; decode reads a 2xx body.
// 429 waits Retry-After; 5xx (but 501), network errors and truncated bodies back off
// exponentially; a 401 invalidates the token and is retried once with a fresh one.
func (c *Client) do(ctx context.Context, cl *call, decode func(io.Reader) error) error {
	token, err := c.token(ctx)
	if err != nil {
		return err
	}
	refreshed := false
	for attempt := 1; ; {
		err := c.send(ctx, cl, token, decode)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized {
			c.auth.Invalidate(token)
			if refreshed {
				return &AuthError{Err: err}
			}
			refreshed = true
			if token, err = c.token(ctx); err != nil {
				return err
			}
			continue // the refresh does not use up an attempt
		}
		if !IsRetryable(err) {
			return err
		}
		if attempt >= c.maxAttempts {
			return fmt.Errorf("giving up after %d %s: %w", attempt, plural(attempt, "attempt"), err)
		}
		wait, ok := retryWait(err, attempt, c.jitter())
		if !ok {
			// Box asked for a longer pause than a request should block; the caller decides.
			return err
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
		attempt++
	}
}

// send makes one attempt of cl with its own deadline and reports it to the observer.
func (c *Client) send(ctx context.Context, cl *call, token string, decode func(io.Reader) error) error {
	err := c.attempt(ctx, cl, token, decode)
	c.observe(ctx, cl.kind, err)
	return err
}

// attempt makes one attempt of cl with its own deadline.
func (c *Client) attempt(ctx context.Context, cl *call, token string, decode func(io.Reader) error) error {
	actx, cancel := c.withTimeout(ctx, c.requestTimeout)
	defer cancel()
	req, err := c.newRequest(actx, cl, token)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, actx, cl, err)
	}
	defer drainAndClose(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(cl, resp, c.clock.Now())
	}
	cl.date = time.Time{} // when Box sent no Date, or one that does not parse
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		cl.date = date
	}
	body := &boundedReader{r: resp.Body, n: c.maxBody, limit: c.maxBody}
	if err := decode(body); err != nil {
		return c.bodyError(ctx, actx, cl, resp, body, err)
	}
	return nil
}

// token asks the Authenticator for a token; a failure is an *AuthError unless ctx ended.
func (c *Client) token(ctx context.Context) (string, error) {
	tok, err := c.auth.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &AuthError{Err: err}
	}
	if tok == "" {
		return "", &AuthError{Err: errors.New("authenticator returned an empty token")}
	}
	return tok, nil
}

// sleep waits d on the client's clock, or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.clock.Timer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transportError describes a failed round trip without the URL that *url.Error carries.
func (c *Client) transportError(ctx, actx context.Context, cl *call, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if timedOut(actx) {
		return &requestError{call: cl.String(), err: fmt.Errorf("%w: no response within %s", errTimeout, c.requestTimeout)}
	}
	return &requestError{call: cl.String(), err: stripURL(err)}
}

// bodyError classifies a failure to read or decode a 2xx body.
func (c *Client) bodyError(ctx, actx context.Context, cl *call, resp *http.Response, body *boundedReader, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if timedOut(actx) {
		return &requestError{call: cl.String(), err: fmt.Errorf("%w: body not read within %s", errTimeout, c.requestTimeout)}
	}
	if rerr := body.err; rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !isBodyTooLarge(rerr) {
		// The connection failed mid-body (reset, ...): a network error.
		return &requestError{call: cl.String(), err: fmt.Errorf("reading body: %w", stripURL(rerr))}
	}
	if mt := mediaType(resp.Header.Get("Content-Type")); mt != "" && !strings.Contains(mt, "json") {
		err = fmt.Errorf("non-JSON body (%s): %w", mt, err)
	}
	return &DecodeError{Method: cl.method, URL: cl.where, Params: cl.params, Err: err}
}

// drainAndClose reads a little of what is left of resp's body so the connection can be reused,
// then closes the body.
func drainAndClose(resp *http.Response) {
	// Best effort: a failed drain only means the connection is not reused, and Close follows anyway.
	io.CopyN(io.Discard, resp.Body, drainLimit) //nolint:errcheck // best-effort drain, see above
	_ = resp.Body.Close()
}

// drainLimit is how much of an unread body is discarded to keep its connection (go-retryablehttp's respReadLimit).
const drainLimit = 4 << 10

// boundedReader reads at most limit bytes; more data is an error rather than a silent cut, so an
// oversized page is never mistaken for a complete one. It records the first read error.
type boundedReader struct {
	r     io.Reader
	n     int64 // bytes still allowed
	limit int64
	err   error // the first read error other than io.EOF
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.n <= 0 {
		// Exactly at the limit: only an attempt to read one more byte tells whether the body is over it.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.err = &bodyTooLargeError{limit: b.limit}
			return 0, b.err
		}
		if err != nil && err != io.EOF {
			b.err = err
		}
		return 0, err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// withTimeout is clock.WithTimeout without a deadline on the context. The
// HTTP stack compares context deadlines with the wall clock, which a mock
// clock does not follow (a mock deadline in 1970 fails every dial at once),
// so the timer runs on the client's clock and cancels with
// context.DeadlineExceeded as the cause instead.
func (c *Client) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancelCause(ctx)
	t := c.clock.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return tctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// timedOut reports whether a context from withTimeout ran out of time.
func timedOut(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}
