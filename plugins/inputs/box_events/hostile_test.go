package box_events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// A Box (or whatever sits in front of it) that misbehaves: every fault gives
// one clear error, the committed position never passes an event that was not
// emitted, and the stream carries on once the fault is gone.

// requireNothingSkipped checks the committed position against the
// simulator's log: every event at or before it was emitted.
func requireNothingSkipped(t *testing.T, sim *boxsim.Server, p *BoxEvents, acc *testutil.Accumulator) {
	t.Helper()
	pos, err := strconv.ParseUint(committed(p), 10, 64)
	require.NoError(t, err, "the committed position %q is not one Box sent", committed(p))
	emitted := make(map[string]bool)
	for _, id := range eventIDs(acc.GetTelegrafMetrics()) {
		emitted[id] = true
	}
	for _, ev := range sim.Events(simStream(p)) {
		evPos, err := strconv.ParseUint(ev.Position, 10, 64)
		require.NoError(t, err)
		if evPos <= pos {
			require.True(t, emitted[ev.ID], "event %s at %d is behind the committed position %d but was never emitted", ev.ID, evPos, pos)
		}
	}
}

// retryStep moves mock time in steps shorter than the shortest retry backoff
// (half a second), so that a test that stops pumping as soon as an error is
// reported finds the plugin still waiting to try again.
const retryStep = 100 * time.Millisecond

func TestHostile_FaultsKeepPositionAndRecover(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		endpoint boxsim.Endpoint
		fault    boxsim.Fault
		expire   bool          // expire the access token first, so the next request needs a new one
		timeout  time.Duration // the plugin's timeout option; 0 keeps withMock's hour
		want     string        // in the reported error
	}{
		{
			// Nine answers: the page of 500 and each smaller page the client asks for
			// instead, down to one event.
			name: "oversized events page", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultOversized, Times: 9},
			want: "response body exceeds 32 MiB",
		},
		{
			// Five answers outlast the client's own retries.
			name: "HTML error page from a proxy", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultProxyHTML, Times: 5},
			want: "502 bad gateway: non-JSON error body (text/html)",
		},
		{
			name: "malformed JSON page", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultMalformedJSON},
			want: "decoding response",
		},
		{
			// The request timeout is 30 s, on the mock clock.
			name: "events requests never answered", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultHang, Times: 5}, timeout: 30 * time.Second,
			want: "no response within 30s",
		},
		{
			// The token request is bounded by timeout, on the mock clock: the
			// report says it timed out, not that something cancelled it.
			name: "token requests never answered", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointToken, fault: boxsim.Fault{Kind: boxsim.FaultHang}, expire: true,
			timeout: time.Minute, want: "box token request failed: no response within 1m0s",
		},
		{
			name: "HTML error page from a proxy before the token endpoint", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointToken, fault: boxsim.Fault{Kind: boxsim.FaultProxyHTML}, expire: true,
			want: "box token endpoint failed: HTTP 502",
		},
		{
			// A refusal: the plugin waits its long auth backoff before trying again.
			name: "token endpoint answers 200 without a token", stream: "admin_logs_streaming",
			endpoint: boxsim.EndpointToken, fault: boxsim.Fault{Kind: boxsim.FaultNoAccessToken}, expire: true,
			want: "response has no access_token",
		},
		{
			name: "malformed realtime server list", stream: "all",
			endpoint: boxsim.EndpointOptions, fault: boxsim.Fault{Kind: boxsim.FaultMalformedJSON},
			want: "getting a realtime server",
		},
		{
			name: "HTML error page from a proxy before the realtime server", stream: "all",
			endpoint: boxsim.EndpointLongPoll, fault: boxsim.Fault{Kind: boxsim.FaultProxyHTML},
			want: "502 bad gateway",
		},
		{
			name: "oversized long-poll answer", stream: "all",
			endpoint: boxsim.EndpointLongPoll, fault: boxsim.Fault{Kind: boxsim.FaultOversized},
			want: "response body exceeds 64 KiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 41})
			mock := mockClock()
			p := withMock(newPlugin(sim, tt.stream), mock)
			if tt.timeout > 0 {
				p.Timeout = config.Duration(tt.timeout)
			}
			userStream := !simStream(p).Enterprise()
			emit(sim, p, 4)
			if userStream {
				// OPTIONS and the long poll follow the first drain.
				sim.InjectFault(tt.endpoint, tt.fault)
			}
			acc, out := run(t, p)
			if !userStream {
				catchUp(t, sim, p, mock, out)
				if tt.expire {
					sim.ExpireTokens()
				}
				sim.InjectFault(tt.endpoint, tt.fault)
				emit(sim, p, 3) // the next poll meets the fault instead
			}
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			errs := errorTexts(acc)
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], tt.want)

			// Only the four events read before the fault are out, and the
			// position is where they end.
			head4 := sim.Events(simStream(p))[3].Position
			pump(t, nil, out, 0, func() bool { return committed(p) == head4 }, "the four events were never committed")
			require.Equal(t, 4, int(acc.NMetrics()))
			requireNothingSkipped(t, sim, p, acc)

			if userStream {
				emit(sim, p, 3)
			}
			// The fault is gone: the stream goes on from where it was.
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
			require.Len(t, errorTexts(acc), 1, "one fault, one error")
		})
	}
}

// mangler serves the simulator and, while armed, replaces the
// next_stream_position of GET /2.0/events answers with raw JSON, for the
// positions boxsim itself never sends.
type mangler struct {
	sim   *boxsim.Server
	mu    sync.Mutex
	value string // "" serves Box's own position
}

var positionMember = regexp.MustCompile(`"next_stream_position":("[^"]*"|[-+.0-9eE]+)`)

func (m *mangler) set(value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.value = value
}

func (m *mangler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	value := m.value
	m.mu.Unlock()
	if value == "" || r.Method != http.MethodGet || r.URL.Path != "/2.0/events" {
		m.sim.Handler().ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	m.sim.Handler().ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		body = positionMember.ReplaceAllLiteral(body, []byte(`"next_stream_position":`+value))
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body) //nolint:errcheck // a client that went away needs no answer
}

// newMangled starts the simulator behind a mangler and a plugin reading it.
func newMangled(t *testing.T, stream string) (*boxsim.Server, *mangler, *BoxEvents) {
	sim := boxsim.New(boxsim.Options{Seed: 42})
	t.Cleanup(sim.Close)
	m := &mangler{sim: sim}
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	p := newPlugin(sim, stream)
	p.BaseURL = ts.URL
	return sim, m, p
}

// Positions that are JSON numbers or strings but not Box positions: a server
// or proxy that decoded them through float64, overflowed, or sent garbage.
var hostilePositions = []struct {
	name  string
	value string // raw JSON
}{
	{"negative number", `-1`},
	{"float of a position beyond 2^53", `1.152922976252291e+18`},
	{"number beyond float64", `1e400`},
	{"fraction", `1152922976252290999.5`},
	{"50 digits", `"` + strings.Repeat("9", 50) + `"`},
	{"not a number", `"abc"`},
}

func TestHostile_PositionsThatAreNotBoxPositions(t *testing.T) {
	for _, tt := range hostilePositions {
		t.Run(tt.name, func(t *testing.T) {
			sim, m, p := newMangled(t, "admin_logs_streaming")
			mock := mockClock()
			withMock(p, mock)
			sim.EmitEnterprise(4)
			acc, out := run(t, p)
			catchUp(t, sim, p, mock, out)
			head4 := committed(p)

			m.set(tt.value)
			sim.EmitEnterprise(3)
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			errs := errorTexts(acc)
			require.Contains(t, errs[0], "next_stream_position")
			require.Contains(t, errs[0], strings.Trim(tt.value, `"`))
			// The page's events may be emitted, but the position may not be
			// taken: it could neither be sent back nor restored.
			out.accept()
			require.Equal(t, head4, committed(p))
			requireNothingSkipped(t, sim, p, acc)

			m.set("")
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()),
				"every event once: the page read again is dropped as repeats")
		})
	}
}

func TestHostile_NowAnsweredWithNoPosition(t *testing.T) {
	for _, tt := range hostilePositions {
		t.Run(tt.name, func(t *testing.T) {
			sim, m, p := newMangled(t, "admin_logs_streaming")
			mock := mockClock()
			withMock(p, mock)
			p.StartPosition = "now"
			sim.EmitEnterprise(2) // history that "now" skips
			m.set(tt.value)
			acc, out := run(t, p)
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			require.Contains(t, errorTexts(acc)[0], "getting the current stream position")
			require.Empty(t, committed(p), "no position may be taken from that answer")

			m.set("")
			pump(t, mock, out, time.Second, func() bool {
				return committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
			})
			fresh := sim.EmitEnterprise(2)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted([]string{fresh[0].ID, fresh[1].ID}), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}

// A Box that never answers must not hold up Stop: Telegraf's shutdown (and
// execd's 5 s before SIGTERM) waits for it.
func TestHostile_StopWhileBoxHangs(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		endpoint boxsim.Endpoint
	}{
		{"events", "admin_logs_streaming", boxsim.EndpointEvents},
		{"token endpoint", "admin_logs_streaming", boxsim.EndpointToken},
		{"realtime server list", "all", boxsim.EndpointOptions},
		{"long poll", "all", boxsim.EndpointLongPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 43})
			sim.InjectFault(tt.endpoint, boxsim.Fault{Kind: boxsim.FaultHang})
			// The real clock: the 60 s request timeout cannot be what ends
			// the request within the second Stop is given.
			p := newPlugin(sim, tt.stream)
			run(t, p)
			// The simulator records a faulted request before it starts to hang.
			require.NoError(t, sim.WaitRequests(tt.endpoint, 1, 10*time.Second))

			done := make(chan struct{})
			go func() {
				p.Stop()
				close(done)
			}()
			require.Eventually(t, func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			}, time.Second, time.Millisecond, "Stop waited for an answer that never comes")
		})
	}
}

// Telegraf's contract for a service input: once Stop returns, nothing more is
// added to the accumulator (the agent closes the channel behind it). Checked
// with live traffic, random faults on every endpoint (errors being reported)
// and the outputs' final flush delivered after Stop, as Telegraf does, with
// GetState then called as the agent's statefile does.
func TestStop_NothingAddedAfterStop(t *testing.T) {
	for _, stream := range []string{"all", "admin_logs_streaming"} {
		t.Run(stream, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 95})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sim.EmitUser(50)
			sim.EmitEnterprise(50)
			sim.StartGenerator(ctx, 5*time.Millisecond)
			for _, ep := range []boxsim.Endpoint{boxsim.EndpointEvents, boxsim.EndpointOptions, boxsim.EndpointLongPoll} {
				sim.SetRandomFaults(ep, 0.2)
			}
			p := newPlugin(sim, stream)
			p.PageSize = 5
			require.NoError(t, p.Init())
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			out := &output{acc: acc}
			deadline := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(deadline) {
				out.accept()
				time.Sleep(5 * time.Millisecond)
			}
			p.Stop()
			metrics, errs := acc.NMetrics(), len(accErrors(acc))
			out.accept() // the final flush
			p.GetState()
			time.Sleep(300 * time.Millisecond)
			require.Equal(t, metrics, acc.NMetrics(), "metrics added after Stop")
			require.Len(t, accErrors(acc), errs, "errors added after Stop")
			require.Positive(t, metrics)
		})
	}
}
