package boxsim

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a misbehaviour the simulator can answer with instead of serving a
// request normally.
type FaultKind string

// Fault kinds. Each applies to every endpoint unless noted.
const (
	// FaultRateLimit answers 429 with Retry-After and Box's rate_limit_exceeded body.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultServerError answers Fault.Status (default 500) with a Box error body.
	FaultServerError FaultKind = "server_error"
	// FaultProxyHTML answers 502 with an HTML page, as a reverse proxy would.
	FaultProxyHTML FaultKind = "proxy_html"
	// FaultReset drops the connection (TCP reset) without any response.
	FaultReset FaultKind = "reset"
	// FaultTruncated declares the full Content-Length, sends half the JSON and closes.
	FaultTruncated FaultKind = "truncated"
	// FaultOversized streams a valid JSON body of Fault.Size bytes (default 33 MiB).
	FaultOversized FaultKind = "oversized"
	// FaultHang never answers; the request ends when the client gives up or on Close.
	FaultHang FaultKind = "hang"
	// FaultUnauthorized answers 401 as for an expired token (without expiring it).
	FaultUnauthorized FaultKind = "unauthorized"
	// FaultNoAccessToken answers 200 with a token body lacking access_token
	// (on other endpoints, an empty JSON object).
	FaultNoAccessToken FaultKind = "no_access_token"
	// FaultMalformedJSON answers 200 with a body that is not valid JSON.
	FaultMalformedJSON FaultKind = "malformed_json"
	// FaultRedirect answers Fault.Status (default 307 Temporary Redirect; any 3xx) with
	// "Location: Fault.Location" and an empty body, on any endpoint, the token endpoint
	// included. Point Location at a server of the test's own to prove that a client
	// does not re-post client_secret, a refresh token or a JWT assertion, or forward
	// Authorization or As-User, to another host. Fault.Location is required and must
	// be an absolute URL, and Status a 3xx; otherwise the request is answered 500.
	FaultRedirect FaultKind = "redirect"
	// FaultDelay serves the request normally, but only after Fault.Delay of REAL
	// (wall-clock) time, not time on the simulated clock, which a test holding a
	// request in flight (a token refresh, say) is typically not moving. The request is
	// dropped unanswered if the client goes away first, and the connection is dropped
	// if the server closes first. It is recorded on arrival (Request.Fault FaultDelay)
	// and not again when served, so WaitRequests sees it while it is held; a delayed
	// long-poll therefore counts before its timer is armed.
	FaultDelay FaultKind = "delay"
	// FaultInvalidPosition answers as Box does for an expired or unknown
	// stream_position: 400 with the ClientError body {"type":"error","status":400,
	// "code":"bad_request","message":"Invalid stream position","help_url":...,
	// "request_id":...}, whose text never contains the token "stream_position"
	// (elastic/integrations#18413). Meant for EndpointEvents (see also
	// Options.RejectExpiredPositions); other endpoints answer the same body.
	FaultInvalidPosition FaultKind = "invalid_position"
)

// Box's answer to an expired or unknown stream position (FaultInvalidPosition).
const (
	codeInvalidPosition = "bad_request"
	msgInvalidPosition  = "Invalid stream position"
)

// defaultOversize is just above the events client's default 32 MiB body bound.
const defaultOversize = 33 << 20

// Fault is one injected misbehaviour.
type Fault struct {
	Kind FaultKind
	// Times is how many consecutive requests the fault answers (0 means 1).
	Times int
	// Status is the status of FaultServerError: 500 (default), 502, 503, ...; and of
	// FaultRedirect: 307 (default), 301, 302, 303, 308.
	Status int
	// RetryAfter is FaultRateLimit's wait, sent in whole seconds (default 1s).
	RetryAfter time.Duration
	// RetryAfterDate sends Retry-After as an HTTP date on the clock instead of seconds.
	RetryAfterDate bool
	// Size is FaultOversized's body size in bytes (default 33 MiB).
	Size int64
	// Location is FaultRedirect's Location header, an absolute URL (required).
	Location string
	// Delay is how long FaultDelay holds the request before serving it, in real
	// (wall-clock) time.
	Delay time.Duration
}

type randomFaults struct {
	rate   float64
	faults []Fault
}

// faultState holds queued and random faults per endpoint. Server.mu guards it.
type faultState struct {
	queued map[Endpoint][]Fault
	random map[Endpoint]randomFaults
}

// defaultRandomFaults are the transient failures a soak test should survive.
func defaultRandomFaults() []Fault {
	return []Fault{
		{Kind: FaultRateLimit},
		{Kind: FaultServerError, Status: http.StatusInternalServerError},
		{Kind: FaultServerError, Status: http.StatusBadGateway},
		{Kind: FaultServerError, Status: http.StatusServiceUnavailable},
		{Kind: FaultProxyHTML},
		{Kind: FaultReset},
		{Kind: FaultTruncated},
	}
}

// InjectFault queues f for endpoint: the next f.Times requests to it (after any faults
// queued earlier) are answered by f.
func (s *Server) InjectFault(endpoint Endpoint, f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.queued[endpoint] = append(s.faults.queued[endpoint], f)
}

// PendingFaults returns how many queued fault answers endpoint has left.
func (s *Server) PendingFaults(endpoint Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults.queued[endpoint] {
		n += f.Times
	}
	return n
}

// SetRandomFaults answers each request to endpoint, when no fault is queued, with
// probability rate by one of faults picked at random (a mix of 429, 5xx, proxy HTML,
// resets and truncation when none are given). A rate of 0 turns random faults off.
func (s *Server) SetRandomFaults(endpoint Endpoint, rate float64, faults ...Fault) {
	if len(faults) == 0 {
		faults = defaultRandomFaults()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rate <= 0 {
		delete(s.faults.random, endpoint)
		return
	}
	s.faults.random[endpoint] = randomFaults{rate: rate, faults: append([]Fault(nil), faults...)}
}

// nextFaultLocked pops the fault answering the next request to ep, if any.
func (s *Server) nextFaultLocked(ep Endpoint) (Fault, bool) {
	if q := s.faults.queued[ep]; len(q) > 0 {
		f := q[0]
		if q[0].Times--; q[0].Times == 0 {
			s.faults.queued[ep] = q[1:]
		}
		return f, true
	}
	if rf, ok := s.faults.random[ep]; ok && s.trafficRnd.Float64() < rf.rate {
		return rf.faults[s.trafficRnd.IntN(len(rf.faults))], true
	}
	return Fault{}, false
}

// writeFault answers r with f instead of serving it.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, ep Endpoint, f Fault) {
	switch f.Kind {
	case FaultRateLimit:
		wait := max(f.RetryAfter, time.Second).Round(time.Second)
		if f.RetryAfterDate {
			w.Header().Set("Retry-After", s.clock.Now().Add(wait).UTC().Format(http.TimeFormat))
		} else {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		}
		s.writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded",
			"Request rate limit exceeded, please try again later", nil)
	case FaultServerError:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		code := map[int]string{
			http.StatusBadGateway:         "bad_gateway",
			http.StatusServiceUnavailable: "unavailable",
			http.StatusGatewayTimeout:     "gateway_timeout",
		}[status]
		if code == "" {
			code = "internal_server_error"
		}
		s.writeError(w, status, code, "Internal Server Error", nil)
	case FaultProxyHTML:
		writeBody(w, http.StatusBadGateway, "text/html", []byte(proxyErrorPage))
	case FaultReset:
		resetConnection(w)
	case FaultTruncated:
		writeTruncated(w, s.cannedBody(ep, r))
	case FaultOversized:
		s.writeOversized(w, r, f.Size)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
			panic(http.ErrAbortHandler)
		}
	case FaultUnauthorized:
		writeUnauthorized(w, authInvalid)
	case FaultNoAccessToken:
		body := "{}"
		if ep == EndpointToken {
			body = `{"expires_in":3600,"restricted_to":[],"token_type":"bearer"}`
		}
		writeBody(w, http.StatusOK, "application/json", []byte(body))
	case FaultRedirect:
		s.writeRedirect(w, f)
	case FaultInvalidPosition:
		s.writeInvalidPosition(w)
	case FaultMalformedJSON:
		body := s.cannedBody(ep, r)
		// Drop the comma after the first member: plausible-looking but not JSON.
		body = strings.Replace(body, ",", " ", 1)
		writeBody(w, http.StatusOK, "application/json", []byte(body))
	default:
		s.writeError(w, http.StatusInternalServerError, "internal_server_error",
			fmt.Sprintf("boxsim: unknown fault kind %q", f.Kind), nil)
	}
}

// writeRedirect answers FaultRedirect: a 3xx with Location and an empty body.
func (s *Server) writeRedirect(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusTemporaryRedirect
	}
	u, err := url.Parse(f.Location)
	if err != nil || !u.IsAbs() || u.Host == "" || status < 300 || status > 399 {
		s.writeError(w, http.StatusInternalServerError, "internal_server_error",
			fmt.Sprintf("boxsim: FaultRedirect needs an absolute Location and a 3xx Status, got %q and %d", f.Location, status), nil)
		return
	}
	w.Header().Set("Location", f.Location)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// writeInvalidPosition answers 400 bad_request "Invalid stream position", as Box does
// for an expired or unknown stream position.
func (s *Server) writeInvalidPosition(w http.ResponseWriter) {
	s.writeError(w, http.StatusBadRequest, codeInvalidPosition, msgInvalidPosition, nil)
}

const proxyErrorPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// cannedBody is a realistic, complete success body for ep, used by faults that mangle it.
func (s *Server) cannedBody(ep Endpoint, r *http.Request) string {
	switch ep {
	case EndpointToken:
		return `{"access_token":"T9cE5asGnuyYCCqIZFoWjFHvNbvVqHjl","expires_in":3600,"restricted_to":[],"token_type":"bearer"}`
	case EndpointOptions:
		return `{"chunk_size":1,"entries":[{"type":"realtime_server","url":"` + s.realtimeBase(r) +
			`/subscribe?channel=0000000000000000dead&stream_type=all","ttl":"10","max_retries":"10","retry_timeout":610}]}`
	case EndpointLongPoll:
		return bodyNewChange
	default:
		return `{"chunk_size":1,"next_stream_position":"` + strconv.FormatUint(PositionBase+1, 10) +
			`","entries":[{"type":"event","event_id":"f82c3ba03e41f7e8a7608363cc6c0390183c3f83",` +
			`"created_by":{"type":"user","id":"11446498","name":"Aaron Levie","login":"ceo@example.com"},` +
			`"created_at":"2012-12-12T10:53:43-08:00","recorded_at":"2012-12-12T10:53:48-08:00",` +
			`"event_type":"ITEM_UPLOAD","session_id":"70090280850c8d2a1933c1","source":null}]}`
	}
}

// hijack takes the raw connection over, or reports false when w cannot be hijacked.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, bool) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	return conn, rw, err == nil
}

// resetConnection closes the connection with SO_LINGER 0, so the client sees a reset.
func resetConnection(w http.ResponseWriter) {
	conn, _, ok := hijack(w)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0) //nolint:errcheck // best effort: a plain close also ends the exchange
	}
	_ = conn.Close()
}

// writeTruncated sends headers declaring len(body) bytes, half of the body, and closes.
func writeTruncated(w http.ResponseWriter, body string) {
	date := w.Header().Get("Date")
	conn, rw, ok := hijack(w)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nDate: %s\r\n\r\n%s",
		len(body), date, body[:len(body)/2])
	_ = rw.Flush()
}

// writeOversized streams a syntactically valid events page padded to size bytes.
func (s *Server) writeOversized(w http.ResponseWriter, r *http.Request, size int64) {
	if size <= 0 {
		size = defaultOversize
	}
	head := `{"chunk_size":0,"next_stream_position":"` + strconv.FormatUint(PositionBase, 10) + `","entries":[],"padding":"`
	const tail = `"}`
	// No Content-Length: the client's own read bound must stop it.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(head)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("x", 32<<10))
	for left := size - int64(len(head)+len(tail)); left > 0; left -= int64(len(chunk)) {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		default:
		}
		if _, err := w.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			return
		}
	}
	w.Write([]byte(tail)) //nolint:errcheck // a client that went away needs no answer
}
