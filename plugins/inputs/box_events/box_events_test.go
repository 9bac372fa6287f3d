package box_events

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// newPlugin returns a plugin reading the simulated Box with client
// credentials: the registered constructor's defaults, so that a changed
// default cannot drift from what the tests assume, plus the connection.
func newPlugin(sim *boxsim.Server, stream string) *BoxEvents {
	p := inputs.Inputs["box_events"]().(*BoxEvents)
	p.BaseURL = sim.URL()
	p.StreamType = stream
	p.StartPosition = "0"
	p.ClientID = boxsim.DefaultClientID
	p.ClientSecret = config.NewSecret([]byte(boxsim.DefaultClientSecret))
	p.SubjectID = boxsim.DefaultEnterpriseID
	p.PollInterval = config.Duration(time.Second)
	p.Log = testutil.Logger{}
	return p
}

// output stands in for Telegraf's outputs: it accepts (or rejects) every
// metric the plugin added, once.
type output struct {
	mu   sync.Mutex
	acc  *testutil.Accumulator
	done int
}

func (o *output) accept() { o.settle(true) }
func (o *output) reject() { o.settle(false) }

func (o *output) settle(ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ms := o.acc.GetTelegrafMetrics()
	for _, m := range ms[o.done:] {
		if ok {
			m.Accept()
		} else {
			m.Reject()
		}
	}
	o.done = len(ms)
}

// eventIDs returns the event_id field of every metric, sorted.
func eventIDs(ms []telegraf.Metric) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		id, _ := m.GetField("event_id")
		ids = append(ids, id.(string))
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

// waitCommitted waits, accepting whatever arrives, until the plugin committed
// the position.
func waitCommitted(t *testing.T, p *BoxEvents, out *output, pos string) {
	t.Helper()
	require.Eventually(t, func() bool {
		out.accept()
		return p.GetState().(State).StreamPosition == pos
	}, 20*time.Second, 5*time.Millisecond, "position %s never committed", pos)
}

// waitCaughtUp waits, accepting whatever arrives, until the plugin committed
// the stream's head. Reading admin_logs_streaming makes the simulator add
// late and repeated events, which moves the head, so it is asked each time.
func waitCaughtUp(t *testing.T, p *BoxEvents, out *output, sim *boxsim.Server, stream boxsim.Stream) {
	t.Helper()
	require.Eventually(t, func() bool {
		out.accept()
		return p.GetState().(State).StreamPosition == sim.HeadPosition(stream)
	}, 20*time.Second, 5*time.Millisecond, "the %s head was never committed", stream)
}

func TestInit_Validation(t *testing.T) {
	sim := boxsim.New(boxsim.Options{})
	tests := []struct {
		name   string
		modify func(*BoxEvents)
		err    string
	}{
		{"bad base_url", func(p *BoxEvents) { p.BaseURL = "ftp://x" }, `invalid base_url "ftp://x"`},
		{"bad stream_type", func(p *BoxEvents) { p.StreamType = "everything" }, `invalid stream_type "everything"`},
		{"bad start_position", func(p *BoxEvents) { p.StartPosition = "1e18" }, `invalid start_position "1e18"`},
		{"page_size too big", func(p *BoxEvents) { p.PageSize = 800 }, "invalid page_size 800: want 1 to 500"},
		{"page_size zero", func(p *BoxEvents) { p.PageSize = 0 }, "invalid page_size 0"},
		{"dedup_window", func(p *BoxEvents) { p.DedupWindow = 0 }, "invalid dedup_window 0"},
		{"max_undelivered_pages", func(p *BoxEvents) { p.MaxUndeliveredPages = 0 }, "invalid max_undelivered_pages 0"},
		// Bounds of what is held in memory: beyond them a typo (a few digits too many) made Init
		// allocate gigabytes, or page_size * max_undelivered_pages overflowed and Start panicked.
		{"dedup_window huge", func(p *BoxEvents) { p.DedupWindow = 1 << 30 }, "invalid dedup_window 1073741824: must be at least 1 and at most 1000000"},
		{"max_undelivered_pages huge", func(p *BoxEvents) { p.MaxUndeliveredPages = math.MaxInt32 / 100 },
			"invalid max_undelivered_pages 21474836: page_size * max_undelivered_pages is at most 1000000 events"},
		{"timeout", func(p *BoxEvents) { p.Timeout = 0 }, "invalid timeout"},
		{"poll_interval too short", func(p *BoxEvents) { p.PollInterval = config.Duration(time.Millisecond) }, "invalid poll_interval 1ms"},
		{"event_types with a comma", func(p *BoxEvents) { p.EventTypes = []string{"LOGIN,UPLOAD"} }, `invalid entry "LOGIN,UPLOAD" in event_types`},
		{"created_after on a user stream", func(p *BoxEvents) { p.CreatedAfter = "2026-01-01T00:00:00Z" }, `only supported with stream_type "admin_logs"`},
		{"created_after not RFC 3339", func(p *BoxEvents) { p.StreamType = "admin_logs"; p.CreatedAfter = "yesterday" }, `invalid created_after "yesterday"`},
		{"created window reversed", func(p *BoxEvents) {
			p.StreamType = "admin_logs"
			p.CreatedAfter = "2026-02-01T00:00:00Z"
			p.CreatedBefore = "2026-01-01T00:00:00Z"
		}, "must be before created_before"},
		{"unknown auth", func(p *BoxEvents) { p.Auth = "password" }, `invalid auth "password"`},
		{"ccg without client_id", func(p *BoxEvents) { p.ClientID = "" }, "needs client_id"},
		{"ccg without secret", func(p *BoxEvents) { p.ClientSecret = config.NewSecret(nil) }, "needs client_secret"},
		{"ccg bad subject_type", func(p *BoxEvents) { p.SubjectType = "group" }, `invalid subject_type "group"`},
		{"ccg without subject_id", func(p *BoxEvents) { p.SubjectID = "" }, "needs subject_id"},
		{"developer token missing", func(p *BoxEvents) { p.Auth = authDeveloperToken }, "needs developer_token"},
		{"jwt without file", func(p *BoxEvents) { p.Auth = authJWT }, "needs jwt_config_file"},
		{"jwt missing file", func(p *BoxEvents) { p.Auth = authJWT; p.JWTConfigFile = "/nonexistent/box.json" }, "/nonexistent/box.json"},
		{"jwt bad algorithm", func(p *BoxEvents) { p.Auth = authJWT; p.JWTConfigFile = "x.json"; p.JWTAlgorithm = "HS256" }, `invalid jwt_algorithm "HS256"`},
		{"refresh without file", func(p *BoxEvents) { p.Auth = authOAuth2Refresh }, "needs refresh_token_file"},
		{"tls", func(p *BoxEvents) { p.TLSCA = "/nonexistent/ca.pem" }, "ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlugin(sim, "all")
			p.BaseURL = "https://api.box.com"
			tt.modify(p)
			require.ErrorContains(t, p.Init(), tt.err)
		})
	}
}

func TestInit_CorruptStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.state")
	require.NoError(t, os.WriteFile(path, []byte(`{"stream_position": 12`), 0o600))
	p := newPlugin(boxsim.New(boxsim.Options{}), "all")
	p.BaseURL = "https://api.box.com"
	p.StateFile = path
	err := p.Init()
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "corrupt")
}

func TestUserStream_EveryEventOnce(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{
		Seed:              1,
		PositionFormat:    boxsim.PositionMixed,
		UserDuplicateRate: 0.3,
	})
	sim.EmitUser(40)

	p := newPlugin(sim, "all")
	p.PageSize = 7 // several pages per drain
	acc, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))

	// Events arriving live are announced by the long poll.
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	sim.EmitUser(25)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))

	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, acc.Errors)
	for _, m := range acc.GetTelegrafMetrics() {
		require.Equal(t, "all", m.Tags()["stream_type"])
		require.NotEmpty(t, m.Tags()["event_type"])
	}
	last, ok := sim.LastRequest(boxsim.EndpointLongPoll)
	require.True(t, ok)
	require.NotEmpty(t, last.Header.Get("Authorization"), "the long poll is authenticated")
}

func TestEnterpriseStream_DuplicatesAndDisorder(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{
		Seed:                   2,
		PositionFormat:         boxsim.PositionNumber,
		StreamingDuplicateRate: 0.4,
		StreamingDisorder:      true,
		ShortPages:             true,
	})
	sim.EmitEnterprise(60)

	p := newPlugin(sim, "admin_logs_streaming")
	p.PageSize = 9
	acc, out := run(t, p)
	waitCaughtUp(t, p, out, sim, boxsim.StreamAdminLogsStreaming)
	sim.EmitEnterprise(30)
	waitCaughtUp(t, p, out, sim, boxsim.StreamAdminLogsStreaming)

	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, acc.Errors)
	last, ok := sim.LastRequest(boxsim.EndpointEvents)
	require.True(t, ok)
	require.Equal(t, "9", last.Query.Get("limit"))
}

func TestStartNow_SkipsHistory(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 3})
	sim.EmitEnterprise(10)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)

	p := newPlugin(sim, "admin_logs_streaming")
	p.StartPosition = "now"
	acc, out := run(t, p)
	waitCommitted(t, p, out, head)

	fresh := sim.EmitEnterprise(5)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	want := make([]string, 0, len(fresh))
	for _, ev := range fresh {
		want = append(want, ev.ID)
	}
	require.Equal(t, sorted(want), eventIDs(acc.GetTelegrafMetrics()))
}

func TestRejectedPageIsReadAgain(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 4})
	sim.EmitEnterprise(12)

	p := newPlugin(sim, "admin_logs_streaming")
	p.PageSize = 5
	acc, out := run(t, p)

	// The first pages are refused by the output.
	acc.Wait(5)
	out.reject()
	require.Equal(t, "0", p.GetState().(State).StreamPosition, "nothing may be committed")

	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	// Every event was accepted at least once; the rejected ones came twice.
	accepted := make(map[string]bool)
	for _, id := range eventIDs(acc.GetTelegrafMetrics()[5:]) {
		accepted[id] = true
	}
	for _, id := range sim.ProducedIDs(boxsim.StreamAdminLogsStreaming) {
		require.True(t, accepted[id], "event %s was never delivered", id)
	}
}

func TestOutputsDown_StopsReading(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 5})
	sim.EmitEnterprise(40)

	p := newPlugin(sim, "admin_logs_streaming")
	p.PageSize = 2
	p.MaxUndeliveredPages = 3
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()

	acc.Wait(6)
	require.Never(t, func() bool { return acc.NMetrics() > 6 }, 300*time.Millisecond, 10*time.Millisecond,
		"at most max_undelivered_pages pages may be in flight")
	require.Equal(t, 3, sim.Requests(boxsim.EndpointEvents))

	out := &output{acc: acc}
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	require.Len(t, acc.GetTelegrafMetrics(), 40)
}

func TestStateFile_ResumeWithoutReplay(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 6, PositionFormat: boxsim.PositionNumber})
	sim.EmitEnterprise(15)
	path := filepath.Join(t.TempDir(), "box.state")

	p := newPlugin(sim, "admin_logs_streaming")
	p.StateFile = path
	_, out := run(t, p)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	waitCommitted(t, p, out, head)
	p.Stop()

	info, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" { // only the read-only bit exists there
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}
	var st State
	buf, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(buf, &st))
	require.Equal(t, head, st.StreamPosition, "the exact digits of a numeric position")
	keys, err := decodeKeys(st.RecentEvents)
	require.NoError(t, err)
	require.Len(t, keys, 15)

	// A new instance resumes there: only new events arrive.
	fresh := sim.EmitEnterprise(4)
	p2 := newPlugin(sim, "admin_logs_streaming")
	p2.StateFile = path
	require.NoError(t, p2.Init())
	acc2 := &testutil.Accumulator{}
	require.NoError(t, p2.Start(acc2))
	defer p2.Stop()
	waitCommitted(t, p2, &output{acc: acc2}, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	want := make([]string, 0, len(fresh))
	for _, ev := range fresh {
		want = append(want, ev.ID)
	}
	require.Equal(t, sorted(want), eventIDs(acc2.GetTelegrafMetrics()))
}

func TestState_RoundTripAndAgentRestore(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 7})
	sim.EmitEnterprise(6)
	p := newPlugin(sim, "admin_logs_streaming")
	acc, out := run(t, p)
	acc.Wait(6)
	p.Stop()
	// The outputs' final flush happens after Stop; GetState still sees it.
	out.accept()
	st := p.GetState().(State)
	require.Equal(t, sim.HeadPosition(boxsim.StreamAdminLogsStreaming), st.StreamPosition)

	// Round trip through JSON as Telegraf's persister does.
	buf, err := json.Marshal(st)
	require.NoError(t, err)
	var restored State
	require.NoError(t, json.Unmarshal(buf, &restored))

	p2 := newPlugin(sim, "admin_logs_streaming")
	require.NoError(t, p2.Init())
	require.NoError(t, p2.SetState(restored))
	require.Equal(t, st, p2.GetState())
	require.ErrorContains(t, p2.SetState("nope"), "state has to be of type")

	p3 := newPlugin(sim, "all")
	require.NoError(t, p3.Init())
	require.ErrorContains(t, p3.SetState(restored), `saved state is for stream_type "admin_logs_streaming"`)
}

func TestUserStream_NoBusyPolling(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 8})
	sim.EmitUser(3)
	mock := clock.NewMock()
	mock.Set(time.Now())

	p := newPlugin(sim, "all")
	p.clock = mock
	acc, out := run(t, p)
	acc.Wait(3)
	out.accept()
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	require.Equal(t, 1, sim.Requests(boxsim.EndpointEvents))

	// News arrive within the same second: the plugin waits for the clock
	// before asking again, however eager the realtime server is.
	sim.EmitUser(1)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	require.Never(t, func() bool { return sim.Requests(boxsim.EndpointEvents) > 1 }, 300*time.Millisecond, 10*time.Millisecond)
	advanceUntil(t, mock, time.Second, func() bool { return acc.NMetrics() == 4 })
	require.Equal(t, 2, sim.Requests(boxsim.EndpointEvents))
}

func TestFaults_StreamGoesOn(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 9})
	sim.EmitEnterprise(8)
	mock := clock.NewMock()
	mock.Set(time.Now())

	p := newPlugin(sim, "admin_logs_streaming")
	p.clock = mock
	p.PageSize = 4
	p.Timeout = config.Duration(time.Hour) // mock time runs fast below; no request may time out
	require.NoError(t, p.Init())

	for _, f := range []boxsim.Fault{
		{Kind: boxsim.FaultRateLimit, RetryAfter: 3 * time.Second},
		{Kind: boxsim.FaultServerError, Status: 503},
		{Kind: boxsim.FaultProxyHTML},
		{Kind: boxsim.FaultReset},
		{Kind: boxsim.FaultTruncated},
		{Kind: boxsim.FaultMalformedJSON, Times: 5}, // outlasts the client's retries
		{Kind: boxsim.FaultUnauthorized},
	} {
		sim.InjectFault(boxsim.EndpointEvents, f)
	}
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	out := &output{acc: acc}
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	require.Eventually(t, func() bool {
		out.accept()
		if p.GetState().(State).StreamPosition == head {
			return true
		}
		// Small steps: a token request in flight has a one-minute timeout
		// on this clock too.
		mock.Add(100 * time.Millisecond)
		return false
	}, 60*time.Second, time.Millisecond)

	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()))
	require.NotEmpty(t, acc.Errors, "the malformed pages are reported")
	for _, err := range acc.Errors {
		require.NotContains(t, err.Error(), boxsim.DefaultClientSecret)
	}
}

func TestAuthRefused_LongBackoff(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 10})
	mock := clock.NewMock()
	mock.Set(time.Now())
	p := newPlugin(sim, "admin_logs_streaming")
	p.clock = mock
	p.ClientSecret = config.NewSecret([]byte("wrong-secret-value"))
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc), "Start never fails on auth trouble")
	defer p.Stop()

	acc.WaitError(1)
	require.ErrorContains(t, acc.FirstError(), "invalid_grant")
	require.NotContains(t, acc.FirstError().Error(), "wrong-secret-value")
	tokens := sim.Requests(boxsim.EndpointToken)
	// Nothing more is tried for minutes.
	mock.Add(time.Minute)
	require.Never(t, func() bool { return sim.Requests(boxsim.EndpointToken) > tokens }, 200*time.Millisecond, 10*time.Millisecond)
	// Small steps up to the retry: the token request that follows has a
	// timeout of its own on the same clock, which must not run out under it.
	// The retry fails again; the streak was reported once.
	require.Eventually(t, func() bool {
		if sim.Requests(boxsim.EndpointToken) > tokens {
			return true
		}
		mock.Add(10 * time.Second)
		return false
	}, 30*time.Second, time.Millisecond)
	require.Never(t, func() bool { return len(accErrors(acc)) > 1 }, 200*time.Millisecond, 10*time.Millisecond)
}
