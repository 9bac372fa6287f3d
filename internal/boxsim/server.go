package boxsim

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// Server is a simulated Box API: the token endpoint, GET and OPTIONS /2.0/events and
// the realtime long-poll server, with scripted and random faults. All methods are safe
// for concurrent use.
type Server struct {
	opts    Options
	clock   clock.Clock
	handler http.Handler

	done      chan struct{} // closed by Close; releases held requests and generators
	closeOnce sync.Once
	wg        sync.WaitGroup // generator goroutines

	mu         sync.Mutex
	eventRand  *rand.Rand // event content, duplicates, disorder: independent of traffic
	stepRand   *rand.Rand // gaps between positions (streaming reads append held events)
	trafficRnd *rand.Rand // tokens, channels, request ids, short pages, random faults
	url        string
	ts         *httptest.Server
	hs         *http.Server
	serveDone  chan struct{}
	rtURL      string       // StartRealtime's base URL
	rtHS       *http.Server // StartRealtime's server
	rtDone     chan struct{}
	rtHandler  http.Handler
	store      store
	auth       authState
	realtime   realtimeState
	faults     faultState
	requests   requestLog
	gen        generator
	dir        directory // the enterprise of EmitTraffic and InjectScenario
	trafficRun uint64    // EmitTraffic calls so far (each plans from a source of its own)
	formatTurn int       // PositionMixed alternation
	pages      sync.Pool // *pageScratch: page bodies and synthetic scratch, reused
}

// New returns a Server configured by opts; zero fields take the documented defaults.
// It does not listen: use Handler, NewTest or Start (and RealtimeHandler or
// StartRealtime for a realtime server on a host of its own). It panics when
// opts.RealtimeURLBase is not a valid base URL.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	if opts.RealtimeURLBase != "" {
		base, err := realtimeURLBase(opts.RealtimeURLBase)
		if err != nil {
			panic(err)
		}
		opts.RealtimeURLBase = base
	}
	// Simulated data must be reproducible from Seed, hence math/rand/v2 on purpose.
	s := &Server{
		opts:       opts,
		clock:      opts.Clock,
		done:       make(chan struct{}),
		eventRand:  rand.New(rand.NewPCG(opts.Seed, 0x626f7873696d)),   //nolint:gosec // "boxsim"
		stepRand:   rand.New(rand.NewPCG(opts.Seed, 0x73746570)),       //nolint:gosec // "step"
		trafficRnd: rand.New(rand.NewPCG(opts.Seed, 0x74726166666963)), //nolint:gosec // "traffic"
	}
	s.store = newStore(opts.MaxEvents, opts.MaxProducedIDs, opts.Retention)
	s.store.adminDelay = opts.AdminLogsDelay
	s.store.retainFor(opts.StreamRetention)
	s.auth = newAuthState(opts, s.clock.Now())
	s.realtime = realtimeState{channels: make(map[string]*channel)}
	s.faults = faultState{queued: make(map[Endpoint][]Fault), random: make(map[Endpoint]randomFaults)}
	s.requests = newRequestLog()
	s.gen = newGenerator(opts.ClientID)
	s.dir = newDirectory(opts)
	s.pages.New = newPageScratch
	s.handler = s.routes()
	s.rtHandler = s.realtimeRoutes()
	return s
}

// realtimeURLBase checks Options.RealtimeURLBase and returns it as scheme://host[:port].
func realtimeURLBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("boxsim: Options.RealtimeURLBase %q is not scheme://host[:port]", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// NewTest returns a Server listening on an httptest.Server, closed by tb.Cleanup.
func NewTest(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	ts := httptest.NewServer(s.Handler())
	s.mu.Lock()
	s.ts = ts
	s.url = ts.URL
	s.mu.Unlock()
	tb.Cleanup(s.Close)
	return s
}

// Start listens on addr, which must be a loopback address ("" means 127.0.0.1 on a free
// port), and returns the base URL. It is meant for the -demo binary.
func (s *Server) Start(addr string) (string, error) {
	ln, err := listenLoopback(addr)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startableLocked(s.url != ""); err != nil {
		ln.Close()
		return "", err
	}
	s.url = "http://" + ln.Addr().String()
	s.hs, s.serveDone = serve(ln, s.handler)
	return s.url, nil
}

// StartRealtime listens on addr, which must be a loopback address ("" means 127.0.0.1 on
// a free port; "127.0.0.2:0" gives a host distinct from the API's), serving only the
// realtime endpoint GET /subscribe over plain http, as Box's realtime servers
// (http://N.realtime.services.box.net) do, and returns its base URL. From then on
// OPTIONS /2.0/events hands out realtime URLs on this base, unless
// Options.RealtimeURLBase is set. Close shuts it down. Requests to it are recorded
// as EndpointLongPoll (Request.Realtime true), and faults injected for
// EndpointLongPoll answer there.
func (s *Server) StartRealtime(addr string) (string, error) {
	ln, err := listenLoopback(addr)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startableLocked(s.rtURL != ""); err != nil {
		ln.Close()
		return "", err
	}
	s.rtURL = "http://" + ln.Addr().String()
	s.rtHS, s.rtDone = serve(ln, s.rtHandler)
	return s.rtURL, nil
}

// startableLocked refuses to start a listener twice or after Close.
func (s *Server) startableLocked(started bool) error {
	select {
	case <-s.done:
		return errors.New("boxsim: server closed")
	default:
	}
	if started {
		return errors.New("boxsim: server already started")
	}
	return nil
}

// listenLoopback listens on addr after checking that it is a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("boxsim: invalid listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("boxsim: refusing to listen on non-loopback address %q", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("boxsim: %w", err)
	}
	return ln, nil
}

// serve serves h on ln until the returned server is closed; done is closed when
// Serve has returned.
func serve(ln net.Listener, h http.Handler) (*http.Server, chan struct{}) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln) //nolint:errcheck // http.ErrServerClosed after Close; nobody to tell otherwise
	}()
	return hs, done
}

// Close releases held (and delayed) requests, stops generators and shuts the listeners
// down, StartRealtime's included. It is idempotent and safe to call on a Server that
// never listened.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		ts, hs, serveDone, rtHS, rtDone := s.ts, s.hs, s.serveDone, s.rtHS, s.rtDone
		s.mu.Unlock()
		if ts != nil {
			// A handler blocked writing to a client that stopped reading would keep
			// httptest.Server.Close waiting forever, so drop the connections first.
			ts.CloseClientConnections()
			ts.Close()
		}
		if hs != nil {
			_ = hs.Close()
			<-serveDone
		}
		if rtHS != nil {
			_ = rtHS.Close()
			<-rtDone
		}
		s.wg.Wait()
	})
}

// URL returns the base URL ("http://127.0.0.1:port"), or "" before NewTest or Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// RealtimeURL returns StartRealtime's base URL, or "" before StartRealtime.
func (s *Server) RealtimeURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rtURL
}

// Handler returns the simulator's HTTP handler, for mounting in a server of your own.
// It serves every endpoint, GET /subscribe included, so a test that resolves
// Options.RealtimeURLBase's host to the API's listener still reaches the long poll.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// RealtimeHandler returns the realtime endpoint alone (GET /subscribe; anything else
// is 404), for serving it on a host of the test's own, e.g. over TLS with
// httptest.NewUnstartedServer and StartTLS. Its requests are recorded as
// EndpointLongPoll with Request.Realtime true. Point OPTIONS at that server with
// Options.RealtimeURLBase.
func (s *Server) RealtimeHandler() http.Handler {
	return s.rtHandler
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/2.0/events", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.serveEndpoint(EndpointEvents, s.handleEvents, w, r)
		case http.MethodOptions:
			s.serveEndpoint(EndpointOptions, s.handleOptions, w, r)
		default:
			s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", nil)
		}
	})
	mux.HandleFunc("/subscribe", s.serveSubscribe)
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", nil)
			return
		}
		s.serveEndpoint(EndpointToken, s.handleToken, w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, http.StatusNotFound, "not_found", "Not Found", nil)
	})
	return mux
}

// realtimeRoutes is RealtimeHandler: the long poll alone.
func (s *Server) realtimeRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/subscribe", func(w http.ResponseWriter, r *http.Request) {
		s.serveSubscribe(w, r.WithContext(context.WithValue(r.Context(), realtimeKey{}, true)))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		s.writeError(w, http.StatusNotFound, "not_found", "Not Found", nil)
	})
	return mux
}

// realtimeKey marks, in a request's context, a request served by RealtimeHandler.
type realtimeKey struct{}

// serveSubscribe serves GET /subscribe, the realtime long poll.
func (s *Server) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", nil)
		return
	}
	s.serveEndpoint(EndpointLongPoll, s.handleLongPoll, w, r)
}

// serveEndpoint sets the headers every Box response carries, then answers the next
// queued or random fault, or hands the request to h. Handlers record the request
// themselves, so the long-poll can record only once it is observably waiting.
// FaultDelay is the exception: it records the request on arrival, waits, and then
// lets h serve it without recording it again.
func (s *Server) serveEndpoint(ep Endpoint, h http.HandlerFunc, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	now := s.clock.Now()
	requestID := randomHex(s.trafficRnd, 7)
	f, faulted := s.nextFaultLocked(ep)
	s.mu.Unlock()

	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	// Date comes from the simulated clock: JWT clients resync their exp from it.
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	w.Header().Set("Box-Request-Id", requestID)
	if !faulted {
		h(w, r)
		return
	}
	if f.Kind != FaultDelay {
		s.record(ep, r, f.Kind)
		s.writeFault(w, r, ep, f)
		return
	}
	var formErr error
	if ep == EndpointToken {
		formErr = r.ParseForm() // handleToken's own ParseForm would no longer report it
	}
	s.record(ep, r, f.Kind)
	if !s.delay(r, f.Delay) {
		return
	}
	h(w, r.WithContext(context.WithValue(r.Context(), recordedKey{}, arrival{formErr: formErr})))
}

// delay waits d of real time. It reports false when the client went away first, and
// drops the connection when the server closes first.
func (s *Server) delay(r *http.Request, d time.Duration) bool {
	// Real time on purpose: FaultDelay holds a request in flight while a test drives
	// its mock clock, so it must not depend on that clock moving.
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// realtimeBase is the scheme://host[:port] of the realtime URLs OPTIONS hands out:
// Options.RealtimeURLBase, else StartRealtime's URL, else the API's base URL.
func (s *Server) realtimeBase(r *http.Request) string {
	if s.opts.RealtimeURLBase != "" {
		return s.opts.RealtimeURLBase
	}
	if u := s.RealtimeURL(); u != "" {
		return u
	}
	return s.baseURL(r)
}

// baseURL is the URL clients reach the simulator at: the listening URL, else the Host
// the request was sent to (when Handler is mounted elsewhere).
func (s *Server) baseURL(r *http.Request) string {
	if u := s.URL(); u != "" {
		return u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// boxError is Box's ClientError body.
type boxError struct {
	Type        string         `json:"type"`
	Status      int            `json:"status"`
	Code        string         `json:"code"`
	ContextInfo map[string]any `json:"context_info,omitempty"`
	HelpURL     string         `json:"help_url"`
	Message     string         `json:"message"`
	RequestID   string         `json:"request_id"`
}

// writeError writes a Box ClientError body with the given status and code.
func (s *Server) writeError(w http.ResponseWriter, status int, code, message string, contextInfo map[string]any) {
	requestID := w.Header().Get("Box-Request-Id")
	if requestID == "" {
		s.mu.Lock()
		requestID = randomHex(s.trafficRnd, 7)
		s.mu.Unlock()
		w.Header().Set("Box-Request-Id", requestID)
	}
	writeJSON(w, status, boxError{
		Type:        "error",
		Status:      status,
		Code:        code,
		ContextInfo: contextInfo,
		HelpURL:     "http://developers.box.com/docs/#errors",
		Message:     message,
		RequestID:   requestID,
	})
}

// writeInvalidParameter answers 400 for a query parameter Box would reject.
func (s *Server) writeInvalidParameter(w http.ResponseWriter, name, value string) {
	msg := fmt.Sprintf("Invalid value '%s' for parameter '%s'", value, name)
	s.writeError(w, http.StatusBadRequest, "invalid_parameter", msg, map[string]any{
		"errors": []map[string]string{{"reason": "invalid_parameter", "name": name, "message": msg}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own types are marshalled
		panic("boxsim: " + err.Error())
	}
	writeBody(w, status, "application/json", body)
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // a client that went away needs no answer
}

// randomHex returns 2n lowercase hex digits drawn from r. The caller holds the lock
// that guards r.
func randomHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)
}
