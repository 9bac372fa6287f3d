package box_events

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Stale and empty positions: what Box answers for a position it no longer
// keeps, and how the plugin keeps its position from getting there.

// Box answers an expired position with 400 "Invalid stream position", which
// does not contain "stream_position": on_invalid_position never fired.
func TestInvalidPosition_BoxWordingRestarts(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 80})
	sim.EmitEnterprise(3)
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.OnInvalidPosition = onInvalidNow
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)

	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultInvalidPosition})
	pump(t, mock, out, time.Second, func() bool { return len(accErrors(acc)) > 0 })
	require.ErrorContains(t, acc.FirstError(), "Invalid stream position")
	require.ErrorContains(t, acc.FirstError(), "restarting from the current position")
	// The restart asks Box for its current position right after the error:
	// events added before that answer are behind it, so wait for it.
	catchUp(t, sim, p, mock, out)
	fresh := sim.EmitEnterprise(2)
	catchUp(t, sim, p, mock, out)
	require.Subset(t, eventIDs(acc.GetTelegrafMetrics()), eventIDsOf(fresh))
}

// A stream whose position Box stops keeping: positions before the retained
// window are refused, as real Box refuses them.
func expiringSim(t *testing.T, seed uint64, opts boxsim.Options) *boxsim.Server {
	opts.Seed = seed
	opts.MaxEvents = 30
	opts.RejectExpiredPositions = true
	return boxsim.NewTest(t, opts)
}

// A rare event_types filter used to leave the checkpoint at the last matching
// event: empty pages moved Box's position on, the plugin's stayed, and once
// Box no longer kept it the stream stopped.
func TestEmptyPages_FilteredStreamMovesOn(t *testing.T) {
	sim := expiringSim(t, 81, boxsim.Options{})
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.EventTypes = []string{"failed_login"} // normalised to Box's FAILED_LOGIN
	p.StartPosition = "now"
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)

	for range 5 {
		for range 20 {
			sim.EmitType(boxsim.StreamAdminLogsStreaming, "LOGIN")
		}
		catchUp(t, sim, p, mock, out)
	}
	require.NotEmpty(t, sim.TrimmedThrough(boxsim.StreamAdminLogsStreaming), "Box forgot the oldest events")
	want := sim.EmitType(boxsim.StreamAdminLogsStreaming, "FAILED_LOGIN")
	catchUp(t, sim, p, mock, out)
	require.Equal(t, []string{want.ID}, eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
	last, ok := sim.LastRequest(boxsim.EndpointEvents)
	require.True(t, ok)
	require.Equal(t, "FAILED_LOGIN", last.Query.Get("event_type"))
}

// Box used to answer an empty admin_logs page with next_stream_position 0
// (box-windows-sdk-v2 #371: "by design"; box-node-sdk #110): taken, it would
// read the year admin_logs keeps again at the next poll.
func TestEmptyPages_AdminLogsZeroKeepsThePosition(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 86, Clock: mock, EmptyPageZeroPosition: true})
	p := withMock(newPlugin(sim, "admin_logs"), mock)
	acc, out := run(t, p)
	pump(t, mock, out, time.Second, func() bool { return sim.Requests(boxsim.EndpointEvents) >= 3 })
	require.Equal(t, "0", committed(p), "nothing yet: still from the beginning")

	sim.EmitEnterprise(4)
	catchUp(t, sim, p, mock, out)
	head := committed(p)
	seen := sim.Requests(boxsim.EndpointEvents)
	pump(t, mock, out, time.Second, func() bool { return sim.Requests(boxsim.EndpointEvents) >= seen+5 })
	for _, r := range sim.RequestLog(boxsim.EndpointEvents)[seen:] {
		require.Equal(t, head, r.Query.Get("stream_position"), "an empty page's 0 is not a position")
	}
	require.Equal(t, head, committed(p))

	sim.EmitEnterprise(3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogs)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// A user stream that shows nothing for a long time (changes, with only
// previews happening) refreshes its position now and then.
func TestEmptyPages_QuietUserStreamRefreshesPosition(t *testing.T) {
	mock := mockClock()
	sim := expiringSim(t, 82, boxsim.Options{Clock: mock}) // the realtime server times its reconnect on the same clock
	p := withMock(newPlugin(sim, "changes"), mock)
	p.StartPosition = "now"
	p.positionRefresh = 20 * time.Minute // six hours by default; the test moves its clock in small steps
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))

	// Previews (not changes: the changes channel stays quiet) push the
	// stream's oldest events out of what Box keeps, a few at a time; the
	// plugin's position follows every positionRefresh. The steps are shorter
	// than the realtime server's reconnect margin, so that each long poll
	// ends with Box's reconnect, not the plugin's own timeout (which reads
	// the stream too, in case of a half-dead connection).
	for range 2 {
		for range 20 {
			sim.EmitType(boxsim.StreamAll, "ITEM_PREVIEW")
		}
		pump(t, mock, out, time.Second, func() bool { return committed(p) == sim.HeadPosition(boxsim.StreamChanges) },
			"the position was never refreshed")
	}
	require.NotEmpty(t, sim.TrimmedThrough(boxsim.StreamAll))
	want := sim.EmitType(boxsim.StreamAll, "ITEM_UPLOAD")
	pump(t, mock, out, 100*time.Millisecond, func() bool { return acc.NMetrics() == 1 })
	require.Equal(t, []string{want.ID}, eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// One ITEM_PREVIEW on a changes stream whose realtime server announces every
// change of the user made 6 GETs and 6 long polls in 6 s, the position never
// moving.
func TestChangesStream_NoLoopOnChangesItDoesNotShow(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 83, RealtimeIgnoresStreamType: true})
	mock := mockClock()
	p := withMock(newPlugin(sim, "changes"), mock)
	p.StartPosition = "now"
	_, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	opts, ok := sim.LastRequest(boxsim.EndpointOptions)
	require.True(t, ok)
	require.Equal(t, "changes", opts.Query.Get("stream_type"), "OPTIONS names the stream")

	gets := sim.Requests(boxsim.EndpointEvents)
	sim.EmitType(boxsim.StreamAll, "ITEM_PREVIEW")
	pump(t, mock, out, 100*time.Millisecond, func() bool { return sim.Requests(boxsim.EndpointEvents) > gets })
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 2, 10*time.Second))
	for range 60 {
		mock.Add(100 * time.Millisecond)
		out.accept()
	}
	require.Never(t, func() bool {
		return sim.Requests(boxsim.EndpointEvents) > gets+1 || sim.Requests(boxsim.EndpointLongPoll) > 2
	}, 300*time.Millisecond, 10*time.Millisecond, "one GET for the announcement, then quiet")
	require.Equal(t, sim.HeadPosition(boxsim.StreamChanges), committed(p), "the empty page's position was taken")
}

// Should a realtime server keep announcing news that reading never shows,
// and Box keep answering the same position, reading backs off.
func TestChangesStream_FruitlessNewChangesBackOff(t *testing.T) {
	sim := boxsim.New(boxsim.Options{Seed: 84, RealtimeIgnoresStreamType: true})
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pos := r.URL.Query().Get("stream_position")
		if r.Method == http.MethodGet && r.URL.Path == "/2.0/events" && pos != "now" {
			gets.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"chunk_size":0,"next_stream_position":"` + pos + `","entries":[]}`)) //nolint:errcheck // test server
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	sim.EmitType(boxsim.StreamAll, "ITEM_PREVIEW")

	mock := mockClock()
	p := withMock(newPlugin(sim, "changes"), mock)
	p.BaseURL = srv.URL
	p.StartPosition = "1"
	_, out := run(t, p)
	for range 120 {
		out.accept()
		mock.Add(time.Second)
		time.Sleep(time.Millisecond) // let the plugin take its turn; the bound below holds whatever the pace
	}
	require.LessOrEqual(t, gets.Load(), int32(12), "2 minutes of fruitless news: the reads back off")
	require.GreaterOrEqual(t, gets.Load(), int32(2))
}

// on_invalid_position = "now" on a stream begun from an old start time
// restarted with the whole backfill again.
func TestInvalidPosition_NowAfterOldStartTimeSkipsBackfill(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 85, Clock: mock})
	sim.EmitEnterprise(5)
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StartPosition = mock.Now().Add(-20 * 24 * time.Hour).Format(time.RFC3339)
	p.OnInvalidPosition = onInvalidNow
	p.PollInterval = config.Duration(time.Second)
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultDelay}) // the "now" of the backfill start passes
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultInvalidPosition})
	acc, out := run(t, p)
	pump(t, mock, out, 100*time.Millisecond, func() bool { return len(accErrors(acc)) > 0 })
	require.ErrorContains(t, acc.FirstError(), "restarting from the current position")
	seen := len(sim.RequestLog(boxsim.EndpointEvents))
	catchUp(t, sim, p, mock, out)
	for _, r := range sim.RequestLog(boxsim.EndpointEvents)[seen:] {
		require.Equal(t, "admin_logs_streaming", r.Query.Get("stream_type"), "no admin_logs backfill after the restart")
	}
	require.Zero(t, acc.NMetrics(), "restarted at now: the history is not read")
	require.Nil(t, p.GetState().(State).Backfill)
}

// Box repeats events at later positions (box-java-sdk #57, #564: a stream
// that made several calls a second "returning only duplicates"). A realtime
// server that keeps announcing news while reading brings back only events
// already emitted, or only a newer position, must back off as when reading
// brings nothing at all.
func TestChangesStream_RepeatsOnlyNewChangesBackOff(t *testing.T) {
	tests := []struct {
		name   string
		repeat bool // the page holds the event already emitted
		moves  bool // Box answers a newer position every time
	}{
		{name: "the same event at the same position", repeat: true},
		{name: "the same event at later positions", repeat: true, moves: true},
		{name: "nothing at later positions", moves: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.New(boxsim.Options{Seed: 86, RealtimeIgnoresStreamType: true})
			ev := sim.EmitType(boxsim.StreamAll, "ITEM_UPLOAD")
			var gets atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pos := r.URL.Query().Get("stream_position")
				if r.Method != http.MethodGet || r.URL.Path != "/2.0/events" || pos == "now" {
					sim.Handler().ServeHTTP(w, r)
					return
				}
				n, err := strconv.ParseUint(pos, 10, 64)
				if err != nil {
					http.Error(w, "stream_position "+pos, http.StatusBadRequest) // fails the test: nothing is read
					return
				}
				entries, next := "", n+1 // the first read brings the event, at position 2
				if gets.Add(1) > 1 {
					if tt.repeat {
						entries = string(ev.JSON)
					}
					if !tt.moves {
						next = n
					}
				} else {
					entries = string(ev.JSON)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"chunk_size":1,"next_stream_position":"` + strconv.FormatUint(next, 10) + //nolint:errcheck // test server
					`","entries":[` + entries + `]}`))
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(sim.Close)

			mock := mockClock()
			p := withMock(newPlugin(sim, "changes"), mock)
			p.BaseURL = srv.URL
			p.StartPosition = "1" // the realtime channel sees the upload after every position read
			acc, out := run(t, p)
			for range 120 {
				out.accept()
				mock.Add(time.Second)
				time.Sleep(time.Millisecond) // let the plugin take its turn; the bound below holds whatever the pace
			}
			require.Equal(t, []string{ev.ID}, eventIDs(acc.GetTelegrafMetrics()), "the event once")
			require.LessOrEqual(t, gets.Load(), int32(12), "2 minutes of news that bring nothing new: the reads back off")
		})
	}
}
