package box_events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// What the outputs can hold, and how hard Box is asked: bounded in-flight
// events under execd, backoff after rejections, Retry-After, error streaks.

// Under execd a page counts as delivered once written, but its position is
// committed commit_delay later. The slot used to be freed on delivery, so
// max_undelivered_pages bounded nothing: a backlog flooded Telegraf's buffer.
func TestCommitDelay_BoundsUncommittedEvents(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 90})
	sim.EmitEnterprise(20)
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.PageSize = 2
	p.MaxUndeliveredPages = 3
	p.CommitDelay = config.Duration(30 * time.Second)
	acc, out := run(t, p)

	acc.Wait(6)
	out.accept() // "written to stdout"
	for range 20 {
		mock.Add(time.Second) // fetch spacing passes, commit_delay does not
		out.accept()
	}
	require.Never(t, func() bool { return acc.NMetrics() > 6 }, 300*time.Millisecond, 10*time.Millisecond,
		"page_size × max_undelivered_pages events at most sit uncommitted")
	require.Equal(t, "0", committed(p))

	// Each commit frees a slot.
	pump(t, mock, out, time.Second, func() bool { return committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming) })
	require.Len(t, acc.GetTelegrafMetrics(), 20)
}

// An output rejecting every page (its buffer full) used to make a user stream
// read Box about 200 times a second.
func TestRejections_BackOff(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 91})
	sim.EmitUser(300)
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.PageSize = 50 // full pages: the fast path
	acc, out := run(t, p)
	acc.Wait(50)
	start := sim.Requests(boxsim.EndpointEvents)
	for range 120 { // two minutes of an output that refuses everything
		out.reject()
		mock.Add(time.Second)
		time.Sleep(time.Millisecond) // let the plugin take its turn; the bound below holds whatever the pace
	}
	out.reject()
	gets := sim.Requests(boxsim.EndpointEvents) - start
	require.LessOrEqual(t, gets, 10, "re-reads back off exponentially (1s, 2s, 4s ... 1m)")
	require.Positive(t, gets)

	// The first commit ends the backoff.
	pump(t, mock, out, time.Second, func() bool { return committed(p) == sim.HeadPosition(boxsim.StreamAll) })
	wait, rejects := p.tracker.rewindWait()
	require.Zero(t, wait)
	require.Zero(t, rejects)
}

// A Retry-After longer than the client waits itself (30 minutes) was
// followed by retries every few seconds.
func TestRetryAfter_LongerThanBackoffIsHonoured(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 92})
	sim.EmitEnterprise(3)
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 30 * time.Minute})
	acc, out := run(t, p)
	acc.WaitError(1)
	require.ErrorContains(t, acc.FirstError(), "429")
	reqs := sim.Requests(boxsim.EndpointEvents)
	for range 29 {
		mock.Add(time.Minute)
	}
	require.Never(t, func() bool { return sim.Requests(boxsim.EndpointEvents) > reqs }, 300*time.Millisecond, 10*time.Millisecond,
		"nothing is asked before Retry-After has passed")
	pump(t, mock, out, time.Second, func() bool { return acc.NMetrics() == 3 })
}

// Every failed round used to add an error: a Box outage of an hour filled
// the logs and the error counters. Now one error per streak, and one line
// when it ends.
func TestErrors_OncePerStreak(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 93})
	sim.EmitEnterprise(3)
	mock := mockClock()
	logger := &testutil.CaptureLogger{}
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.Log = logger
	// Four rounds of the client's five attempts each.
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultServerError, Status: http.StatusServiceUnavailable, Times: 4 * 5})
	acc, out := run(t, p)
	pump(t, mock, out, retryStep, func() bool { return acc.NMetrics() == 3 })
	require.Len(t, accErrors(acc), 1, "one error for the whole streak: %q", errorTexts(acc))
	require.ErrorContains(t, acc.FirstError(), "503")

	// The end of the streak is logged once the round that emitted the events returns: the
	// metrics may be seen a moment before.
	recovered := func() int {
		n := 0
		for _, line := range logger.Messages() {
			if strings.Contains(line.Text, "recovered after 4 failures") {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return recovered() > 0 }, 10*time.Second, time.Millisecond, "%v", logger.Messages())
	require.Equal(t, 1, recovered(), "%v", logger.Messages())
}

// A 401 that persists after the token was refreshed gets the long auth
// backoff, like refused credentials.
func TestAuth_PersistentUnauthorizedBacksOffLong(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 94})
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultUnauthorized, Times: 2})
	acc, _ := run(t, p)
	acc.WaitError(1)
	reqs := sim.Requests(boxsim.EndpointEvents)
	for range 4 {
		mock.Add(time.Minute)
	}
	require.Never(t, func() bool { return sim.Requests(boxsim.EndpointEvents) > reqs }, 300*time.Millisecond, 10*time.Millisecond,
		"no retry within minutes")
}

// A page longer than page_size (a Box that ignores limit, or a huge page)
// used to become one tracking group larger than the outputs were sized for.
func TestHugePage_SplitIntoGroups(t *testing.T) {
	sim := boxsim.New(boxsim.Options{Seed: 95})
	t.Cleanup(sim.Close)
	const n = 1200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/2.0/events" {
			sim.Handler().ServeHTTP(w, r)
			return
		}
		if r.URL.Query().Get("stream_position") != "0" {
			w.Write([]byte(`{"chunk_size":0,"next_stream_position":"9999","entries":[]}`)) //nolint:errcheck // test server
			return
		}
		entries := make([]string, 0, n)
		for i := range n {
			entries = append(entries, fmt.Sprintf(`{"type":"event","event_id":"e%d","event_type":"LOGIN","created_at":"2026-01-01T00:00:00Z"}`, i))
		}
		w.Write([]byte(`{"chunk_size":` + strconv.Itoa(n) + `,"next_stream_position":"9999","entries":[` + //nolint:errcheck // test server
			strings.Join(entries, ",") + `]}`))
	}))
	t.Cleanup(srv.Close)

	p := newPlugin(sim, "admin_logs_streaming")
	p.BaseURL = srv.URL
	p.MaxUndeliveredPages = 1
	acc, out := run(t, p)
	acc.Wait(500)
	require.Never(t, func() bool { return acc.NMetrics() > 500 }, 200*time.Millisecond, 10*time.Millisecond,
		"no group holds more than page_size events")
	require.Equal(t, "0", committed(p))
	waitCommitted(t, p, out, "9999")
	require.Len(t, acc.GetTelegrafMetrics(), n)
}

// Events that carry almost nothing become writable metrics and the stream
// goes on past them.
func TestNearlyEmptyEvents_StreamGoesOn(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 96})
	for _, raw := range []string{`{}`, `{"type":"event"}`, `{"event_type":null,"source":17}`} {
		_, err := sim.AddRawEvent(boxsim.StreamAll, json.RawMessage(raw))
		require.NoError(t, err)
	}
	sim.EmitUser(2)
	p := newPlugin(sim, "all")
	acc, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))
	require.Len(t, acc.GetTelegrafMetrics(), 5)
	for _, m := range acc.GetTelegrafMetrics() {
		require.NotEmpty(t, m.FieldList())
	}
}

// An output that refuses a page for good (outputs.influxdb_v2 rejects a batch
// InfluxDB answers 400 or 422: an event older than the bucket's retention, a
// field of another type) stops the stream: the page is read again and again.
// That used to be one warning suggesting a full buffer, then debug lines only,
// while Telegraf's output said the events "will be dropped". A long streak
// now gets a warning of its own, once, saying that nothing after the page is
// written.
func TestRejections_LongStreakIsReported(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 94})
	sim.EmitEnterprise(3)
	mock := mockClock()
	logger := &testutil.CaptureLogger{}
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.Log = logger
	acc, out := run(t, p)
	acc.Wait(3)
	streak := func() []string {
		var found []string
		for _, w := range logger.Warnings() {
			if strings.Contains(w, "times in a row") {
				found = append(found, w)
			}
		}
		return found
	}
	for i := range 12 { // an output that refuses whatever is read (from the sixth rejection on, in parts)
		n := acc.NMetrics()
		out.reject()
		advanceUntil(t, mock, time.Second, func() bool { return acc.NMetrics() > n }, "rejection %d: the page was not read again", i+1)
		if i < rejectsReported-2 {
			require.Empty(t, streak(), "a few rejections are an overflow's: nothing more yet")
		}
	}
	found := streak()
	require.Len(t, found, 1, "one warning for the streak: %q", logger.Warnings())
	require.Contains(t, found[0], "position 0 of the admin_logs_streaming stream")
	require.Contains(t, found[0], "nothing after it")
	require.Contains(t, found[0], "for good")
	require.Empty(t, errorTexts(acc), "--test rejects every metric: no error")

	// Accepted at last: the stream moves on.
	catchUp(t, sim, p, mock, out)
	require.Len(t, streak(), 1)
}
