// Package boxauth turns Box credentials (client credentials grant, JWT server
// auth, OAuth2 refresh tokens, developer tokens) into access tokens.
//
// Every source satisfies boxevents.Authenticator structurally:
//
//	Token(ctx context.Context) (string, error)
//	Invalidate(token string)
//
// and has Close(ctx context.Context) error, to be called when the source is
// no longer needed (a refresh-token rotation in flight must reach the disk
// before the process exits).
//
// No source puts a secret, token, assertion or key into an error string.
package boxauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/oauth2"
)

// DefaultTokenURL is Box's token endpoint.
const DefaultTokenURL = "https://api.box.com/oauth2/token" //nolint:gosec // G101 false positive: a public endpoint URL, not a credential

// ErrClosed is returned by Token once Close has been called.
var ErrClosed = errors.New("box token source is closed")

// errFetchTimeout is the cause of a token request's cancellation by the
// Source's fetch timeout.
var errFetchTimeout = errors.New("box token request timed out")

// Secret returns a credential at the moment it is needed. It is called at each
// use and its result is not kept, so a rotated value in a secret store is
// picked up by the next token request.
type Secret func() (string, error)

const (
	// defaultLifetime is assumed when the token response has no expires_in
	// (Box access tokens last 60 minutes).
	defaultLifetime = time.Hour
	// defaultFetchTimeout bounds one token request, caller cancellations aside, when the
	// config's Timeout is 0.
	defaultFetchTimeout = time.Minute
	// aheadRetryInterval spaces refresh-ahead attempts after one failed while
	// the cached token is still usable, so a down endpoint is not hammered
	// (longer when its answer had a longer Retry-After).
	aheadRetryInterval = 30 * time.Second
)

// Source caches an access token obtained from a fetch function and refreshes
// it ahead of expiry. At most one fetch runs at a time; concurrent callers
// wait for it. Source is safe for concurrent use.
type Source struct {
	fetch        func(ctx context.Context) (*oauth2.Token, error)
	clk          clock.Clock
	fetchTimeout time.Duration

	mu        sync.Mutex
	token     string
	refreshAt time.Time  // from here on a replacement is fetched in the background
	expireAt  time.Time  // from here on the token is no longer handed out
	retryAt   time.Time  // earliest next refresh-ahead attempt after a failure
	call      *fetchCall // the fetch in flight, nil if none
	closed    bool       // Close was called: no token is handed out, no fetch started
	// finish is set when a fetch in flight must not be cut short by Close
	// (it rotates a refresh token); any other fetch is cancelled by Close.
	finish bool
	// release gives up what the Source holds (the refresh token file's
	// lock); nil if nothing. Called once, when closed and no fetch is in
	// flight, by Close or by the fetch that Close stopped waiting for.
	release    func() error
	releaseErr error
	observer   Observer
}

// Observer hears about token requests, for self-metrics. Both functions are optional, are
// called without any lock held, and must be quick and safe for concurrent use.
type Observer struct {
	// Refreshed is called when a token request returned a token.
	Refreshed func()
	// Failed is called when a token request failed (not when the Source was closed meanwhile),
	// or when a StaticSource refuses a developer token that the API has refused.
	Failed func(err error)
}

// Observe sets the Observer of the Source's token requests; call it before the first Token.
func (s *Source) Observe(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observer = o
}

type fetchCall struct {
	done   chan struct{}
	cancel context.CancelFunc
	token  string
	err    error
}

// withTimeout sets how long one token request may take; 0 keeps the default minute.
func (s *Source) withTimeout(d time.Duration) *Source {
	if d > 0 {
		s.fetchTimeout = d
	}
	return s
}

// NewSource returns a Source that obtains tokens from fetch. fetch must return
// a token with a non-empty AccessToken; its lifetime is read from ExpiresIn or
// the raw expires_in field (Expiry is only a fallback, being computed from the
// wall clock by golang.org/x/oauth2). A nil clk means the real clock.
func NewSource(fetch func(ctx context.Context) (*oauth2.Token, error), clk clock.Clock) *Source {
	if clk == nil {
		clk = clock.New()
	}
	return &Source{fetch: fetch, clk: clk, fetchTimeout: defaultFetchTimeout}
}

// Token returns a valid access token, fetching one if none is cached.
//
// Once less than max(10% of the lifetime, min(5 minutes, half the lifetime))
// remains, a replacement is fetched in the background while the cached token
// keeps being returned; if that fetch fails, the cached token is used until 30 s
// (at most 10% of the lifetime) before it expires and the refresh is retried
// every 30 s (or after the answer's Retry-After, if longer). Without a usable
// token, callers wait for the single fetch in flight or until ctx is done. The
// fetch itself is not cancelled when a caller gives up (a refresh-token
// rotation must not be cut in half); it is bounded by the config's Timeout (a
// minute by default) on the Source's clock, and then fails saying so. After
// Close, Token fails with ErrClosed.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", ErrClosed
	}
	now := s.clk.Now()
	if s.token != "" && now.Before(s.expireAt) {
		tok := s.token
		if !now.Before(s.refreshAt) && !now.Before(s.retryAt) && s.call == nil {
			s.start(ctx)
		}
		s.mu.Unlock()
		return tok, nil
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("box access token: %w", err)
	}
	c := s.call
	if c == nil {
		c = s.start(ctx)
	}
	s.mu.Unlock()

	select {
	case <-c.done:
		return c.token, c.err
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for box access token: %w", ctx.Err())
	}
}

// Invalidate drops the cached token if it is still token (the API answered 401
// for it), so the next Token call fetches a new one. A token already replaced
// is ignored, so concurrent 401s cause one fetch, not several.
func (s *Source) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" && s.token == token {
		s.token = ""
		s.refreshAt, s.expireAt, s.retryAt = time.Time{}, time.Time{}, time.Time{}
	}
}

// Close stops the Source: from now on Token fails with ErrClosed and no
// fetch is started. A fetch in flight is cancelled, except a refresh-token
// rotation (RefreshToken), and waited for until ctx is done, so a rotated
// refresh token is on disk when Close returns nil; then what the Source
// holds (a refresh token file's lock) is released. If ctx ends first, Close
// returns its error; a rotation goes on (bounded by its own
// timeout), is not cut in half, and releases the holdings when it ends.
// Close may be called more than once, and by several goroutines; each call
// returns the release's result.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.token = ""
	c := s.call
	if c == nil {
		defer s.mu.Unlock()
		s.releaseLocked()
		return s.releaseErr
	}
	if !s.finish {
		// Nothing is handed out any more: the request would only hold its
		// connection and goroutine for up to a minute.
		c.cancel()
	}
	s.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		// The fetch releases what the Source holds when it ends: releasing
		// now would let another instance take the refresh token file while
		// this rotation may still write it.
		return fmt.Errorf("closing box token source: a token request is still in flight: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
	return s.releaseErr
}

// releaseLocked releases what the Source holds, once, and keeps the result
// in s.releaseErr for every Close to return; s.mu must be held and no fetch
// in flight.
func (s *Source) releaseLocked() {
	if s.release != nil {
		s.releaseErr = s.release()
		s.release = nil
	}
}

// start launches a fetch; s.mu must be held. The fetch's context keeps ctx's
// values but not its cancellation, and gets its own timeout from s.clk
// (AfterFunc rather than WithTimeout: a mock clock's deadline would otherwise
// be read against the wall clock by net.Dialer).
func (s *Source) start(ctx context.Context) *fetchCall {
	fctx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	cancel := func() { cancelCause(context.Canceled) }
	c := &fetchCall{done: make(chan struct{}), cancel: cancel}
	s.call = c
	timeout := s.fetchTimeout
	timer := s.clk.AfterFunc(timeout, func() { cancelCause(errFetchTimeout) })
	started := s.clk.Now()
	obs := s.observer
	go func() {
		defer cancel()
		defer timer.Stop()
		tok, life, err := s.fetchToken(fctx)
		if (errors.Is(err, context.Canceled) || errors.Is(err, errFetchTimeout)) && errors.Is(context.Cause(fctx), errFetchTimeout) {
			// The cancellation is the timeout's: say so plainly, not "context canceled" after the URL.
			err = fmt.Errorf("box token request failed: no response within %s: %w", timeout, context.DeadlineExceeded)
		}
		s.mu.Lock()
		s.call = nil
		closed := s.closed
		switch {
		case s.closed: // nothing is handed out any more; keep no token
			// A Close that gave up waiting left the release to this
			// fetch; an error is kept for the next Close to return.
			s.releaseLocked()
		case err == nil:
			s.token = tok
			s.refreshAt, s.expireAt = schedule(started, life)
			s.retryAt = time.Time{}
		default:
			// Never sooner than the token endpoint asked (Retry-After).
			s.retryAt = s.clk.Now().Add(max(aheadRetryInterval, RetryAfter(err)))
		}
		c.token, c.err = tok, err
		s.mu.Unlock()
		switch {
		case closed:
		case err == nil && obs.Refreshed != nil:
			obs.Refreshed()
		case err != nil && obs.Failed != nil:
			obs.Failed(err)
		}
		close(c.done)
	}()
	return c
}

func (s *Source) fetchToken(ctx context.Context) (string, time.Duration, error) {
	tok, err := s.fetch(ctx)
	if err != nil {
		return "", 0, err
	}
	if tok == nil || tok.AccessToken == "" {
		return "", 0, &TokenError{StatusCode: 200}
	}
	return tok.AccessToken, lifetime(tok, s.clk), nil
}

// schedule returns when to start refreshing a token obtained at start and
// valid for life, and when to stop handing it out.
func schedule(start time.Time, life time.Duration) (refreshAt, expireAt time.Time) {
	ahead := min(5*time.Minute, life/2)
	ahead = max(ahead, life/10)
	guard := min(30*time.Second, life/10)
	return start.Add(life - ahead), start.Add(life - guard)
}

// lifetime reads a token's lifetime from ExpiresIn, the raw expires_in field,
// or (as a fallback) Expiry against clk.
func lifetime(tok *oauth2.Token, clk clock.Clock) time.Duration {
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	if secs, ok := expiresIn(tok.Extra("expires_in")); ok && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if !tok.Expiry.IsZero() {
		if d := clk.Until(tok.Expiry); d > 0 {
			return d
		}
	}
	return defaultLifetime
}

func expiresIn(v any) (int64, bool) {
	switch v := v.(type) {
	case float64:
		if v > 0 && v < 1<<40 {
			return int64(v), true
		}
	case int64:
		return v, true
	case int:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}
