package box_events

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
	"github.com/telegraf-box/telegraf-box/internal/safefile"
)

// Helpers shared by auth_test.go, secrets_test.go, hostile_test.go and
// transport_test.go. newPlugin and output come from box_events_test.go.

// mockClock returns a mock clock set to the present: token lifetimes and
// Date headers then look realistic.
func mockClock() *clock.Mock {
	mock := clock.NewMock()
	mock.Set(time.Now())
	return mock
}

// withMock makes p wait on mock. Requests get an hour before timing out,
// because pump moves mock time much faster than requests travel.
func withMock(p *BoxEvents, mock *clock.Mock) *BoxEvents {
	p.clock = mock
	p.Timeout = config.Duration(time.Hour)
	return p
}

// run initialises and starts p. It is stopped when the test ends, before the
// simulator (whose Close was registered earlier) shuts down.
func run(t *testing.T, p *BoxEvents) (*testutil.Accumulator, *output) {
	t.Helper()
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)
	return acc, &output{acc: acc}
}

// accErrors copies the errors reported so far: the plugin appends to
// acc.Errors under acc's lock from its own goroutines.
func accErrors(acc *testutil.Accumulator) []error {
	acc.Lock()
	defer acc.Unlock()
	return append([]error(nil), acc.Errors...)
}

// errorTexts returns the reported errors as strings.
func errorTexts(acc *testutil.Accumulator) []string {
	errs := accErrors(acc)
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

// committed is the position the plugin would persist now.
func committed(p *BoxEvents) string {
	return p.GetState().(State).StreamPosition
}

// pump accepts whatever the plugin emitted and moves mock time on by step
// until cond holds: every wait of the plugin (fetch spacing, poll interval,
// retry backoff) runs on the mock, so the test decides when it ends. A nil
// mock only accepts. The deadline is real time and only a failsafe.
func pump(t *testing.T, mock *clock.Mock, out *output, step time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, func() bool {
		out.accept()
		if cond() {
			return true
		}
		if mock != nil {
			mock.Add(step)
		}
		return false
	}, 30*time.Second, 2*time.Millisecond, msgAndArgs...)
}

// advanceUntil moves mock time on by step until cond holds, accepting nothing (so nothing
// delivered ages towards commit_delay meanwhile). One Add is not enough: it may come before the
// plugin started the wait it is meant to end, and the plugin would then wait for ever.
func advanceUntil(t *testing.T, mock *clock.Mock, step time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, func() bool {
		if cond() {
			return true
		}
		mock.Add(step)
		return false
	}, 30*time.Second, 10*time.Millisecond, msgAndArgs...)
}

// simStream is the simulator's name for the plugin's stream.
func simStream(p *BoxEvents) boxsim.Stream {
	return boxsim.Stream(p.StreamType)
}

// emit adds n events to the log p reads.
func emit(sim *boxsim.Server, p *BoxEvents, n int) {
	if simStream(p).Enterprise() {
		sim.EmitEnterprise(n)
	} else {
		sim.EmitUser(n)
	}
}

// catchUp pumps until p committed the head of its stream.
func catchUp(t *testing.T, sim *boxsim.Server, p *BoxEvents, mock *clock.Mock, out *output) {
	t.Helper()
	pump(t, mock, out, time.Second, func() bool {
		return committed(p) == sim.HeadPosition(simStream(p))
	}, "the %s head was never committed", p.StreamType)
}

// requireFlow proves a started plugin reads its stream end to end: events
// produced before it started and while it runs (for user streams: announced
// by the long poll) reach the output exactly once and are committed.
func requireFlow(t *testing.T, sim *boxsim.Server, p *BoxEvents, mock *clock.Mock, acc *testutil.Accumulator, out *output) {
	t.Helper()
	emit(sim, p, 5)
	catchUp(t, sim, p, mock, out)
	if !simStream(p).Enterprise() {
		// Live events must come through the long poll, so wait until one is held.
		require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	}
	emit(sim, p, 3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// writeStateFile writes st as state_file content, as the plugin does.
func writeStateFile(path string, st State) error {
	buf, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return safefile.WriteAtomic(path, buf, 0o600)
}

// recorder is a server on a second loopback address that records every
// request it receives: it stands for a host that must never see credentials.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	srv  *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	rec.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm() //nolint:errcheck // recorded as far as it parses
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	}), ReadHeaderTimeout: 10 * time.Second}}
	rec.srv.Start()
	t.Cleanup(rec.srv.Close)
	return rec
}

// url is the recorder's base URL.
func (rec *recorder) url() string { return rec.srv.URL }

// host is the recorder's host name, as an error should name it.
func (rec *recorder) host() string {
	u, err := url.Parse(rec.srv.URL)
	if err != nil {
		panic(err)
	}
	return u.Hostname()
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// readStateFile reads state_file content; ok is false when there is none.
func readStateFile(path string) (st State, ok bool, err error) {
	buf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	err = json.Unmarshal(buf, &st)
	return st, true, err
}
