package box_events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

func eventIDsOf(evs []boxsim.Event) []string {
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return sorted(ids)
}

func TestCommitDelay_CommitsOnlyAgedPages(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 20})
	sim.EmitEnterprise(6)
	mock := clock.NewMock()
	mock.Set(time.Now())
	path := filepath.Join(t.TempDir(), "box.state")

	p := newPlugin(sim, "admin_logs_streaming")
	p.clock = mock
	p.PageSize = 3
	p.CommitDelay = config.Duration(30 * time.Second)
	p.StateFile = path
	acc, out := run(t, p)
	acc.Wait(6)
	out.accept() // what the shim does once a line is on stdout

	// Delivered, but not for long enough: a Telegraf that died now would
	// lose its buffer, so nothing is committed.
	require.Never(t, func() bool { return p.GetState().(State).StreamPosition != "0" }, 200*time.Millisecond, 10*time.Millisecond)
	mock.Add(10 * time.Second)
	require.Equal(t, "0", p.GetState().(State).StreamPosition)

	mock.Add(25 * time.Second)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	require.Eventually(t, func() bool { return p.GetState().(State).StreamPosition == head }, 10*time.Second, 5*time.Millisecond)

	// New pages, then a shutdown before they aged: they are not committed
	// and will be read again after the restart.
	sim.EmitEnterprise(3)
	advanceUntil(t, mock, p.cfg.interval, func() bool { return acc.NMetrics() == 9 })
	out.accept()
	p.Stop()
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, head, st.StreamPosition)
}

func TestID_StableAcrossTuning(t *testing.T) {
	sim := boxsim.New(boxsim.Options{})
	a := newPlugin(sim, "admin_logs_streaming")
	a.BaseURL = "https://api.box.com"
	b := newPlugin(sim, "admin_logs_streaming")
	b.BaseURL = "https://api.box.com"
	b.PollInterval = config.Duration(time.Minute)
	b.PageSize = 100
	b.DedupWindow = 5
	require.Equal(t, a.ID(), b.ID(), "tuning options keep the state")

	for _, change := range []func(*BoxEvents){
		func(p *BoxEvents) { p.StreamType = "admin_logs" },
		func(p *BoxEvents) { p.SubjectID = "other" },
		func(p *BoxEvents) { p.AsUser = "42" },
		func(p *BoxEvents) { p.BaseURL = "https://box.example.com" },
	} {
		c := newPlugin(sim, "admin_logs_streaming")
		c.BaseURL = "https://api.box.com"
		change(c)
		require.NotEqual(t, a.ID(), c.ID())
	}
}

func TestStartTime_SkipsOlderEvents(t *testing.T) {
	mock := clock.NewMock()
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	mock.Set(t0)
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 21, Clock: mock})
	sim.EmitUser(5)
	mock.Add(time.Hour)
	fresh := sim.EmitUser(4)

	p := newPlugin(sim, "all")
	p.StartPosition = t0.Add(30 * time.Minute).Format(time.RFC3339)
	acc, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))
	require.Equal(t, eventIDsOf(fresh), eventIDs(acc.GetTelegrafMetrics()))
	require.Equal(t, t0.Add(30*time.Minute).UTC().Format(time.RFC3339Nano), p.GetState().(State).NotBefore)
}

func TestBackfill_AdminLogsThenStreaming(t *testing.T) {
	mock := clock.NewMock()
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour)
	mock.Set(start.Add(-time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 22, Clock: mock, StreamingDuplicateRate: 0.2})
	sim.EmitEnterprise(4) // before the start time: never emitted
	mock.Set(start.Add(time.Hour))
	old := sim.EmitEnterprise(7) // older than the streaming history: only admin_logs has them
	mock.Set(now)
	recent := sim.EmitEnterprise(5)

	path := filepath.Join(t.TempDir(), "box.state")
	p := newPlugin(sim, "admin_logs_streaming")
	p.StartPosition = start.Format(time.RFC3339)
	p.PageSize = 3
	p.StateFile = path
	p.backfillSettle = 0 // the plugin runs on the real clock: no two-minute wait for late admin_logs events
	acc, out := run(t, p)

	// The admin_logs part arrives first; the handover then continues the
	// streaming position taken when the backfill began.
	want := append(eventIDsOf(old), eventIDsOf(recent)...)
	require.Eventually(t, func() bool {
		out.accept()
		return len(acc.GetTelegrafMetrics()) >= len(want) && p.reader.currentBackfill() == nil
	}, 20*time.Second, 5*time.Millisecond)
	live := sim.EmitEnterprise(3)
	waitCaughtUp(t, p, out, sim, boxsim.StreamAdminLogsStreaming)

	want = sorted(append(want, eventIDsOf(live)...))
	require.Equal(t, want, eventIDs(acc.GetTelegrafMetrics()), "each event exactly once across the handover")
	for _, m := range acc.GetTelegrafMetrics() {
		require.Equal(t, "admin_logs_streaming", m.Tags()["stream_type"], "one series whichever stream it came from")
	}
	backfillReads := 0
	for _, r := range sim.RequestLog(boxsim.EndpointEvents) {
		if r.Query.Get("stream_type") == "admin_logs" {
			backfillReads++
			require.Equal(t, start.UTC().Format("2006-01-02T15:04:05-07:00"), r.Query.Get("created_after"))
		}
	}
	require.Positive(t, backfillReads)
	p.Stop() // state_file is written at most once a second, and at Stop
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.Nil(t, st.Backfill)
}

// Box buffers admin_logs for about a minute, while admin_logs_streaming shows
// an event at once. A backfill hands over at the admin_logs_streaming position
// it took when it began, past the events of the minute before: only admin_logs
// can bring those, once they show there, so it is read again after that.
func TestBackfill_LateAdminLogsEventsBeforeTheHandover(t *testing.T) {
	mock := mockClock()
	now := mock.Now()
	start := now.Add(-30 * 24 * time.Hour)
	mock.Set(start.Add(time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 95, Clock: mock, AdminLogsDelay: time.Minute})
	old := sim.EmitEnterprise(3)
	mock.Set(now.Add(-20 * time.Second))
	late := sim.EmitEnterprise(2) // admin_logs shows them 40 s after the backfill began
	mock.Set(now)

	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StartPosition = start.Format(time.RFC3339)
	p.PollInterval = config.Duration(15 * time.Second)
	acc, out := run(t, p)
	pump(t, mock, out, time.Second, func() bool {
		return p.reader.currentBackfill() == nil && committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	}, "the backfill never handed over")
	require.Equal(t, sorted(append(eventIDsOf(old), eventIDsOf(late)...)), eventIDs(acc.GetTelegrafMetrics()),
		"the events admin_logs showed late were read before the handover")
}

// With Box's retentions (admin_logs a year, admin_logs_streaming two weeks), a
// stream begun 16 days back finds its first two days in admin_logs only.
func TestBackfill_StartBeyondStreamingHistory(t *testing.T) {
	const day = 24 * time.Hour
	mock := mockClock()
	now := mock.Now()
	start := now.Add(-16 * day)
	mock.Set(start.Add(time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 97, Clock: mock, StreamRetention: map[boxsim.Stream]time.Duration{
		boxsim.StreamAdminLogs: 365 * day, boxsim.StreamAdminLogsStreaming: 14 * day,
	}})
	old := sim.EmitEnterprise(3) // gone from admin_logs_streaming by now
	mock.Set(now.Add(-time.Hour))
	recent := sim.EmitEnterprise(2)
	mock.Set(now)

	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StartPosition = start.Format(time.RFC3339)
	acc, out := run(t, p)
	pump(t, mock, out, time.Second, func() bool {
		return p.reader.currentBackfill() == nil && committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	}, "the stream never caught up")
	require.Equal(t, sorted(append(eventIDsOf(old), eventIDsOf(recent)...)), eventIDs(acc.GetTelegrafMetrics()))
}

func TestInvalidPosition_Policies(t *testing.T) {
	const rejected = "99999999999999999999999999" // digits, but beyond anything Box hands out
	for _, tt := range []struct {
		policy string
		emits  bool
	}{
		{onInvalidFail, false},
		{onInvalidBeginning, true},
		{onInvalidNow, false},
		{onInvalidLookback, true},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 23})
			evs := sim.EmitEnterprise(4)
			path := filepath.Join(t.TempDir(), "box.state")
			require.NoError(t, writeStateFile(path, State{StreamType: "admin_logs_streaming", StreamPosition: rejected}))

			p := newPlugin(sim, "admin_logs_streaming")
			p.StateFile = path
			p.OnInvalidPosition = tt.policy
			p.InvalidPositionLookback = config.Duration(time.Hour)
			acc, out := run(t, p)

			acc.WaitError(1)
			require.ErrorContains(t, acc.FirstError(), "stream_position")
			if !tt.emits {
				if tt.policy == onInvalidFail {
					require.Never(t, func() bool { return acc.NMetrics() > 0 }, 200*time.Millisecond, 10*time.Millisecond)
					require.Equal(t, rejected, p.GetState().(State).StreamPosition, "fail keeps the position for a human to decide")
					return
				}
				waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
				require.Zero(t, acc.NMetrics())
				return
			}
			waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
			require.Equal(t, eventIDsOf(evs), eventIDs(acc.GetTelegrafMetrics()))
			require.ErrorContains(t, acc.FirstError(), "on_invalid_position")
		})
	}
}

// A stream whose restarted position Box rejects too (every position of the
// stream answered 400 "Invalid stream position") is retried with the
// failures' backoff, reported once: on_invalid_position restarted it again
// at once every time, ten GET /events a second with "beginning" or
// "lookback" (each spaced only by the fetch spacing), without any spacing
// with "now", and one error reported for each.
func TestInvalidPosition_RejectedAgainAfterRestartBacksOff(t *testing.T) {
	for _, policy := range []string{onInvalidBeginning, onInvalidNow, onInvalidLookback} {
		t.Run(policy, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 97, Clock: mock})
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			p.OnInvalidPosition = policy
			acc, out := run(t, p)
			emit(sim, p, 3)
			catchUp(t, sim, p, mock, out)

			before := sim.Requests(boxsim.EndpointEvents)
			sim.SetRandomFaults(boxsim.EndpointEvents, 1, boxsim.Fault{Kind: boxsim.FaultInvalidPosition})
			emit(sim, p, 2)
			for range 600 {
				mock.Add(100 * time.Millisecond)
				time.Sleep(time.Millisecond) // let the plugin take its turn; the bounds below hold whatever the pace
			}
			require.LessOrEqual(t, sim.Requests(boxsim.EndpointEvents)-before, 12,
				"a minute of rejected positions: the reads back off")
			require.LessOrEqual(t, len(accErrors(acc)), 3, "reported once for the restart and once for the failures: %q", errorTexts(acc))

			// Box takes the position again: the stream goes on from where it was restarted.
			sim.SetRandomFaults(boxsim.EndpointEvents, 0)
			emit(sim, p, 2)
			catchUp(t, sim, p, mock, out)
		})
	}
}

func TestCorruptSavedBackfillState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.state")
	require.NoError(t, writeStateFile(path, State{
		StreamType: "admin_logs_streaming", StreamPosition: "5",
		Backfill: &BackfillState{CreatedBefore: "never", HandoverPosition: "7"},
	}))
	p := newPlugin(boxsim.New(boxsim.Options{}), "admin_logs_streaming")
	p.BaseURL = "https://api.box.com"
	p.StateFile = path
	require.ErrorContains(t, p.Init(), path)
	_, err := os.Stat(path)
	require.NoError(t, err, "the state file is left for a human to inspect")
}

// Options that change what is read are part of the ID, normalised: two
// inputs differing only in event_types collided (and stopped Telegraf at
// start-up), while ALL and all did not match.
func TestID_CoversWhatIsReadNormalised(t *testing.T) {
	sim := boxsim.New(boxsim.Options{})
	base := func() *BoxEvents {
		p := newPlugin(sim, "admin_logs")
		p.BaseURL = "https://api.box.com"
		p.EventTypes = []string{"LOGIN", "FAILED_LOGIN"}
		return p
	}
	a := base()
	for _, same := range []func(*BoxEvents){
		func(p *BoxEvents) { p.StreamType = "ADMIN_LOGS" },
		func(p *BoxEvents) { p.BaseURL = "https://API.box.com/" },
		func(p *BoxEvents) { p.EventTypes = []string{"failed_login", " LOGIN", "LOGIN"} },
		func(p *BoxEvents) { p.StartPosition = "Beginning" },
	} {
		p := base()
		same(p)
		require.Equal(t, a.ID(), p.ID())
	}
	for _, other := range []func(*BoxEvents){
		func(p *BoxEvents) { p.EventTypes = []string{"LOGIN"} },
		func(p *BoxEvents) { p.EventTypes = nil },
		func(p *BoxEvents) { p.CreatedAfter = "2026-01-01T00:00:00Z" },
		func(p *BoxEvents) { p.CreatedBefore = "2026-01-01T00:00:00Z" },
		func(p *BoxEvents) { p.StartPosition = "now" },
		func(p *BoxEvents) { p.StartPosition = "2026-01-01T00:00:00Z" },
		func(p *BoxEvents) { p.AsUser = "42" },
	} {
		p := base()
		other(p)
		require.NotEqual(t, a.ID(), p.ID())
	}
	// The ID is the same before and after Init.
	require.NoError(t, a.Init())
	require.Equal(t, base().ID(), a.ID())
}

// state_file records the ID it was written for; another configuration
// pointed at it must not read (and then overwrite) that stream's position.
func TestStateFile_RecordsIDAndRefusesAnotherStream(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 97})
	sim.EmitEnterprise(4)
	path := filepath.Join(t.TempDir(), "box.state")
	p := newPlugin(sim, "admin_logs_streaming")
	p.EventTypes = []string{"LOGIN"}
	p.StateFile = path
	_, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	p.Stop()

	buf, err := os.ReadFile(path)
	require.NoError(t, err)
	var st State
	require.NoError(t, json.Unmarshal(buf, &st))
	require.Equal(t, p.ID(), st.ID)
	require.Contains(t, st.Stream, "event_types=LOGIN")

	other := newPlugin(sim, "admin_logs_streaming")
	other.EventTypes = []string{"UPLOAD"}
	other.StateFile = path
	err = other.Init()
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "event_types=LOGIN")
	require.ErrorContains(t, err, "event_types=UPLOAD")
	require.ErrorContains(t, err, st.ID[:12])
	require.ErrorContains(t, err, other.ID()[:12])

	// A state file from before IDs were recorded is still taken.
	legacy := filepath.Join(t.TempDir(), "legacy.state")
	require.NoError(t, writeStateFile(legacy, State{StreamType: "admin_logs_streaming", StreamPosition: st.StreamPosition}))
	again := newPlugin(sim, "admin_logs_streaming")
	again.StateFile = legacy
	require.NoError(t, again.Init())
	require.Equal(t, st.StreamPosition, committed(again))
	again.Stop()
}
