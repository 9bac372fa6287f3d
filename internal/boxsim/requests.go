package boxsim

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Endpoint names a simulated API endpoint, for faults and the request log.
type Endpoint string

// Endpoints of the simulator.
const (
	EndpointEvents   Endpoint = "events"   // GET /2.0/events
	EndpointOptions  Endpoint = "options"  // OPTIONS /2.0/events
	EndpointLongPoll Endpoint = "longpoll" // GET /subscribe (the realtime server, on either handler)
	EndpointToken    Endpoint = "token"    // POST /oauth2/token
)

// maxLoggedRequests bounds the request log; counters are never trimmed.
const maxLoggedRequests = 1000

// Request is a request as the simulator received it.
type Request struct {
	Endpoint Endpoint
	Method   string
	Host     string // the Host it was sent to, e.g. "2.realtime.services.box.net:8443"
	Path     string
	Query    url.Values  // decoded query string
	Header   http.Header // including Authorization and As-User
	Form     url.Values  // POST form of token requests, nil otherwise
	// Fault is the fault answered instead of serving it, "" when none. A request
	// delayed by FaultDelay is recorded on arrival with FaultDelay, then served.
	Fault FaultKind
	// Realtime reports that RealtimeHandler served it (StartRealtime's listener or a
	// server of the test's own), not Handler.
	Realtime bool
	TLS      bool      // it arrived over TLS
	Time     time.Time // arrival on the clock
}

// requestLog counts requests and keeps the latest ones. Server.mu guards it.
type requestLog struct {
	counts map[Endpoint]int
	last   map[Endpoint]Request
	log    []Request
	// arrived is closed and replaced on every recorded request (WaitRequests wake-up).
	arrived chan struct{}
}

func newRequestLog() requestLog {
	return requestLog{
		counts:  make(map[Endpoint]int),
		last:    make(map[Endpoint]Request),
		arrived: make(chan struct{}),
	}
}

// recordedKey marks, in a request's context, a request already recorded on arrival
// (FaultDelay); its value is an arrival.
type recordedKey struct{}

// arrival is what recording on arrival learnt that serving needs later.
type arrival struct {
	formErr error // token requests: ParseForm's error (a second ParseForm returns nil)
}

// record logs r for ep. Token requests have their form parsed (bounded by serveEndpoint).
func (s *Server) record(ep Endpoint, r *http.Request, fault FaultKind) {
	if ep == EndpointToken {
		r.ParseForm() //nolint:errcheck // handleToken answers a malformed form; faults ignore it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(ep, r, fault)
}

// recordLocked logs r for ep, unless it was recorded on arrival already.
func (s *Server) recordLocked(ep Endpoint, r *http.Request, fault FaultKind) {
	if r.Context().Value(recordedKey{}) != nil {
		return
	}
	req := Request{
		Endpoint: ep,
		Method:   r.Method,
		Host:     r.Host,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
		Fault:    fault,
		Realtime: r.Context().Value(realtimeKey{}) != nil,
		TLS:      r.TLS != nil,
		Time:     s.clock.Now(),
	}
	if ep == EndpointToken && r.PostForm != nil {
		req.Form = cloneValues(r.PostForm)
	}
	l := &s.requests
	l.counts[ep]++
	l.last[ep] = req
	l.log = append(l.log, req)
	if n := len(l.log) - maxLoggedRequests; n > 0 {
		clear(l.log[:n])
		l.log = l.log[n:]
	}
	close(l.arrived)
	l.arrived = make(chan struct{})
}

// Requests returns how many requests endpoint received, faulted ones included. A
// long-poll that is held counts only once the simulator is waiting on its timer
// (except under FaultDelay, which counts a request on arrival).
func (s *Server) Requests(endpoint Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests.counts[endpoint]
}

// LastRequest returns the latest request to endpoint, and false when there was none.
func (s *Server) LastRequest(endpoint Endpoint) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests.last[endpoint]
	return req, ok
}

// RequestLog returns the retained requests to endpoint (the latest 1000 of all
// endpoints), oldest first.
func (s *Server) RequestLog(endpoint Endpoint) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, req := range s.requests.log {
		if req.Endpoint == endpoint {
			out = append(out, req)
		}
	}
	return out
}

// WaitRequests blocks until endpoint has received at least n requests. The timeout is
// in real time (a mock clock does not move by itself); it returns an error when the
// timeout passes or the server closes first.
func (s *Server) WaitRequests(endpoint Endpoint, n int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, arrived := s.requests.counts[endpoint], s.requests.arrived
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-arrived:
		case <-timer.C:
			return fmt.Errorf("boxsim: %d %s request(s) after %v, want %d", got, endpoint, timeout, n)
		case <-s.done:
			return fmt.Errorf("boxsim: server closed with %d %s request(s), want %d", got, endpoint, n)
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vals := range v {
		out[k] = append([]string(nil), vals...)
	}
	return out
}
