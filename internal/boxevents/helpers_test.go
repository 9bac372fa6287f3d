package boxevents

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
)

// testToken is the access token the fake authenticator hands out; it must never show up in errors.
const testToken = "s3cr3t-T0KEN-value"

// fakeAuth is a scripted Authenticator.
type fakeAuth struct {
	mu          sync.Mutex
	tokens      []string // returned in order, the last one repeats
	calls       int
	err         error
	invalidated []string
}

func (a *fakeAuth) Token(context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.err != nil {
		return "", a.err
	}
	return a.tokens[min(a.calls-1, len(a.tokens)-1)], nil
}

func (a *fakeAuth) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalidated = append(a.invalidated, token)
}

func (a *fakeAuth) Invalidated() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.invalidated...)
}

// waitClock is a mock clock that reports every retry wait (client.sleep uses Timer) on waits,
// once the timer exists, so a test advances the clock only when the client is really waiting.
// Request deadlines use the mock's WithTimeout (AfterFunc) and are not reported.
type waitClock struct {
	*clock.Mock
	waits chan time.Duration
}

func newWaitClock() *waitClock {
	return &waitClock{Mock: clock.NewMock(), waits: make(chan time.Duration, 64)}
}

func (c *waitClock) Timer(d time.Duration) *clock.Timer {
	t := c.Mock.Timer(d)
	c.waits <- d
	return t
}

// recorded is what the test server saw of one request.
type recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
}

// harness is a client wired to a test server and a mock clock.
type harness struct {
	client *Client
	clock  *waitClock
	auth   *fakeAuth
	srv    *httptest.Server

	mu      sync.Mutex
	reqs    []recorded
	handler http.HandlerFunc
}

// handle replaces the test server's handler.
func (h *harness) handle(handler http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handler = handler
}

// setup starts a test server running handler and a client for it, with the backoff jitter
// pinned to 1 so waits are exact.
func setup(t *testing.T, handler http.HandlerFunc, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{clock: newWaitClock(), auth: &fakeAuth{tokens: []string{testToken}}, handler: handler}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.reqs = append(h.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		handler := h.handler
		h.mu.Unlock()
		if handler == nil {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		handler(w, r)
	}))
	t.Cleanup(h.srv.Close)
	cfg := Config{BaseURL: h.srv.URL, HTTPClient: h.srv.Client(), Auth: h.auth, Clock: h.clock}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	c.jitter = func() float64 { return 1 }
	h.client = c
	return h
}

// requests returns what the server has seen so far.
func (h *harness) requests() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

// nextWait returns the next retry wait the client starts.
func (h *harness) nextWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-h.clock.waits:
		return d
	case <-time.After(10 * time.Second): // a failsafe, never a synchronisation
		t.Fatal("the client did not start waiting")
		return 0
	}
}

// noWaits asserts that the client never waited.
func (h *harness) noWaits(t *testing.T) {
	t.Helper()
	select {
	case d := <-h.clock.waits:
		t.Fatalf("unexpected retry wait of %s", d)
	default:
	}
}

type result[T any] struct {
	v   T
	err error
}

// async runs f in a goroutine; receive its result with await.
func async[T any](f func() (T, error)) chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := f()
		ch <- result[T]{v, err}
	}()
	return ch
}

func await[T any](t *testing.T, ch chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(10 * time.Second): // a failsafe, never a synchronisation
		t.Fatal("the call did not return")
		var zero T
		return zero, nil
	}
}

// readTestdata returns testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// writeJSON answers status with body as JSON.
func writeJSON(t testing.TB, w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeBody(t, w, body)
}

// writeBody writes body to the answer. A failed write is logged, not fatal: it means the client
// hung up, which some tests make it do (an oversized body, a timeout).
func writeBody(t testing.TB, w http.ResponseWriter, body []byte) {
	if _, err := w.Write(body); err != nil {
		t.Logf("test server: writing answer: %v", err)
	}
}

// resetConnection hijacks the request's connection and resets it (RST) without answering.
func resetConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		if err := tcp.SetLinger(0); err != nil {
			t.Errorf("set linger: %v", err)
		}
	}
	_ = conn.Close()
}
