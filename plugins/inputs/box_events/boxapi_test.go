package box_events

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Behaviours of Box's API (BOX_API.md) that no other test drove the plugin
// through.

// A realtime server that answers every long poll at once without news
// (reconnect, max_retries or a message of its own: one that lost its
// channels, a broken node) was polled once a second, with an OPTIONS before
// each poll, and the stream was not read until the six-hourly refresh.
func TestUserStream_RealtimeServerAnsweringAtOnceStillReads(t *testing.T) {
	for _, body := range []string{`{"version":1,"message":"reconnect"}`, `{"message":"max_retries"}`, `{"message":"busy"}`} {
		t.Run(body, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.New(boxsim.Options{Seed: 120, Clock: mock}) // not listening: it hands out the wrapper's URL
			var polls atomic.Int32
			waits := &waitClock{Mock: mock}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/subscribe" {
					polls.Add(1)
					waits.busy()
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(body)) //nolint:errcheck // test server
					return
				}
				sim.Handler().ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(sim.Close)
			p := withMock(newPlugin(sim, "all"), mock)
			p.clock = waits
			p.BaseURL = srv.URL
			acc, out := run(t, p)
			require.Eventually(t, func() bool { return polls.Load() > 0 }, 10*time.Second, time.Millisecond)

			sim.EmitUser(3)
			start, before := mock.Now(), polls.Load()
			for range 120 {
				out.accept()
				// A step taken while a poll is on its way would make that poll
				// look a second long, not answered at once (as on a loaded
				// machine): time moves only while the plugin waits.
				require.Eventually(t, waits.waiting, 10*time.Second, time.Millisecond, "the plugin did not wait after a long poll")
				mock.Add(time.Second)
			}
			require.LessOrEqual(t, polls.Load()-before, int32(12), "two minutes of a realtime server answering at once: the polls back off")
			pump(t, mock, out, time.Second, func() bool { return acc.NMetrics() == 3 }, "the events were never read")
			require.Less(t, mock.Since(start), 10*time.Minute, "the events were read late")
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}

// Box answers max_retries once a realtime URL was polled more often than it
// allows; the plugin renews it itself after the max_retries OPTIONS gave, but
// Box may count otherwise. The answer brings a new realtime server and loses
// nothing.
func TestUserStream_MaxRetriesAnswerGetsANewRealtimeServer(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 121, Clock: mock, MaxRetries: 2})
	p := withMock(newPlugin(sim, "all"), mock)
	p.BaseURL = realtimeFields(t, sim, "max_retries", `"50"`).URL
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)
	for range 5 {
		require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
		sim.EmitUser(1)
		catchUp(t, sim, p, mock, out)
	}
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
	require.Positive(t, stat(t, p, "longpoll_reconnects"), "Box's max_retries was answered")
	require.Greater(t, sim.Requests(boxsim.EndpointOptions), 1)
	require.Empty(t, errorTexts(acc))
}

// Box may answer fewer events than limit while more remain: on a user
// stream the long poll then announces them at once.
func TestUserStream_ShortPagesEveryEventOnce(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 122, Clock: mock, ShortPages: true, UserDuplicateRate: 0.2})
	sim.EmitUser(150)
	p := withMock(newPlugin(sim, "all"), mock)
	p.PageSize = 20
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	sim.EmitUser(60)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// admin_logs shows events about a minute late (Box buffers it): read live,
// every event still comes once.
func TestAdminLogs_LateEventsReadLive(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 123, Clock: mock, AdminLogsDelay: time.Minute})
	p := withMock(newPlugin(sim, "admin_logs"), mock)
	p.StartPosition = "now"
	p.PollInterval = 0 // the default for admin_logs
	acc, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointEvents, 1, 10*time.Second))
	var want []string
	for range 8 {
		want = append(want, eventIDsOf(sim.EmitEnterprise(3))...)
		for range 25 {
			out.accept()
			mock.Add(time.Second)
			time.Sleep(time.Millisecond)
		}
	}
	pump(t, mock, out, time.Second, func() bool { return acc.NMetrics() >= uint64(len(want)) })
	for range 180 { // three more polls: nothing comes twice
		out.accept()
		mock.Add(time.Second)
		time.Sleep(time.Millisecond)
	}
	out.accept()
	require.Equal(t, sorted(want), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// A realtime server's 429 asks for a pause: neither the long poll nor the
// stream is asked again before it ends.
func TestUserStream_LongPollRetryAfterHonoured(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 124, Clock: mock})
	p := withMock(newPlugin(sim, "all"), mock)
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)
	sim.InjectFault(boxsim.EndpointLongPoll, boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 10 * time.Minute})
	sim.EmitUser(1) // the held poll answers new_change; the next one gets the 429
	pump(t, mock, out, 100*time.Millisecond, func() bool { return len(accErrors(acc)) > 0 }, "the 429 was not reported")
	require.ErrorContains(t, acc.FirstError(), "429")
	gets, polls := sim.Requests(boxsim.EndpointEvents), sim.Requests(boxsim.EndpointLongPoll)
	sim.EmitUser(2)
	for range 9 * 60 {
		mock.Add(time.Second)
		out.accept()
	}
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, gets, sim.Requests(boxsim.EndpointEvents), "GET /events within the realtime server's Retry-After")
	require.Equal(t, polls, sim.Requests(boxsim.EndpointLongPoll), "long polls within Retry-After")
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
}

// changes and sync are views of the user's events (sync: synced folders
// only, kept 31 days): each is read with its own realtime channel, every
// event of the view once.
func TestUserStream_ChangesAndSyncViews(t *testing.T) {
	for _, stream := range []string{"changes", "sync"} {
		t.Run(stream, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 125, Clock: mock, UserDuplicateRate: 0.2})
			sim.EmitUser(40)
			p := withMock(newPlugin(sim, stream), mock)
			p.PageSize = 5
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)
			require.NotEmpty(t, acc.GetTelegrafMetrics())
			require.Less(t, len(sim.ProducedIDs(boxsim.Stream(stream))), len(sim.ProducedIDs(boxsim.StreamAll)), "a view, not the whole stream")
			opts, ok := sim.LastRequest(boxsim.EndpointOptions)
			require.True(t, ok)
			require.Equal(t, stream, opts.Query.Get("stream_type"))
			for _, m := range acc.GetTelegrafMetrics() {
				require.Equal(t, stream, m.Tags()["stream_type"])
			}
		})
	}
}

// Box answering pages of events without a usable next_stream_position (null,
// missing in other clients' experience: box-node-sdk re-polls, python-gen
// jumps to "now") is one failure for as long as it lasts: one error, then
// the failure policy's backoff, not an error at every read.
func TestUnusablePosition_OneErrorPerStreak(t *testing.T) {
	for _, stream := range []string{"admin_logs_streaming", "all"} {
		t.Run(stream, func(t *testing.T) {
			sim, m, p := newMangled(t, stream)
			mock := mockClock()
			withMock(p, mock)
			p.PollInterval = 0 // the stream's default
			emit(sim, p, 2)
			acc, out := run(t, p)
			catchUp(t, sim, p, mock, out)
			head := committed(p)

			m.set("null")
			emit(sim, p, 3)
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			gets := sim.Requests(boxsim.EndpointEvents)
			for range 10 * 60 {
				out.accept()
				mock.Add(time.Second)
				time.Sleep(100 * time.Microsecond)
			}
			require.Len(t, errorTexts(acc), 1, "ten minutes of the same fault")
			require.Contains(t, errorTexts(acc)[0], "next_stream_position")
			require.Equal(t, head, committed(p))
			require.LessOrEqual(t, sim.Requests(boxsim.EndpointEvents)-gets, 60, "re-reads of the same page back off")

			m.set("")
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}

// Box holds a long poll up to retry_timeout (610 s), far beyond the plugin's
// request timeout (60 s): a poll cut at the request timeout would be sent
// again and again (box-python-sdk #83).
func TestUserStream_LongPollOutlivesRequestTimeout(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 126, Clock: mock})
	p := newPlugin(sim, "all")
	p.clock = mock // the default timeout (60 s) stays
	acc, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	gets, polls := sim.Requests(boxsim.EndpointEvents), sim.Requests(boxsim.EndpointLongPoll)
	for range 600 { // ten minutes: within retry_timeout
		mock.Add(time.Second)
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, polls, sim.Requests(boxsim.EndpointLongPoll), "the long poll was cut short")
	require.Equal(t, gets, sim.Requests(boxsim.EndpointEvents))
	require.Empty(t, errorTexts(acc))
	sim.EmitUser(2)
	pump(t, mock, out, 100*time.Millisecond, func() bool { return acc.NMetrics() == 2 }, "the held poll did not announce the events")
}

// The long poll names the position read up to (the .NET SDK's omitted it):
// without it the realtime server waits for events after its own head, and
// events that came between the read and the poll wait for the next one.
func TestUserStream_LongPollSendsThePosition(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 127, Clock: mock})
	sim.EmitUser(4)
	p := withMock(newPlugin(sim, "all"), mock)
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	last, ok := sim.LastRequest(boxsim.EndpointLongPoll)
	require.True(t, ok)
	require.Equal(t, sim.HeadPosition(boxsim.StreamAll), last.Query.Get("stream_position"))
	require.Equal(t, 4, int(acc.NMetrics()))
}

// waitClock is a mock clock that tells whether the plugin waits on it: since
// the plugin's last request that busy recorded, it started a timer (a
// backoff, a spacing) that has not fired yet. A test moving time only then
// cannot land a step inside that request, whatever the machine's load.
type waitClock struct {
	*clock.Mock
	mu       sync.Mutex
	deadline time.Time // of the latest timer started since busy; zero: none
}

func (c *waitClock) Timer(d time.Duration) *clock.Timer {
	c.mu.Lock()
	c.deadline = c.Now().Add(d)
	c.mu.Unlock()
	return c.Mock.Timer(d)
}

func (c *waitClock) busy() {
	c.mu.Lock()
	c.deadline = time.Time{}
	c.mu.Unlock()
}

func (c *waitClock) waiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline.After(c.Now())
}
