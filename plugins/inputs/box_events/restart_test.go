package box_events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Restarts before anything was committed: the saved position is then the
// stream's start, "0" (all Box keeps, or since created_after).

// A stream that starts from the beginning commits "0" until its first page is
// delivered. Telegraf stopped before that (its first flush, or Box not
// reachable yet) stores that state; the next start must read from the
// beginning again, not refuse the state (Telegraf does not start when
// SetState fails).
func TestState_StopBeforeFirstCommitRestores(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 40})
	evs := sim.EmitEnterprise(4)
	p := newPlugin(sim, "admin_logs_streaming")
	acc, _ := run(t, p)
	acc.Wait(4) // written, never accepted: the outputs did not flush yet
	p.Stop()
	buf, err := json.Marshal(p.GetState())
	require.NoError(t, err)
	var st State
	require.NoError(t, json.Unmarshal(buf, &st))
	require.Equal(t, "0", st.StreamPosition, "nothing was committed")

	p2 := newPlugin(sim, "admin_logs_streaming")
	require.NoError(t, p2.Init())
	require.NoError(t, p2.SetState(st))
	acc2 := &testutil.Accumulator{}
	require.NoError(t, p2.Start(acc2))
	defer p2.Stop()
	waitCaughtUp(t, p2, &output{acc: acc2}, sim, boxsim.StreamAdminLogsStreaming)
	require.Equal(t, eventIDsOf(evs), eventIDs(acc2.GetTelegrafMetrics()))
}

// admin_logs with created_after begins at position 0. Stopped before its
// first page reached the outputs (they were down, or Box was), the agent
// saved position "0", and SetState refused it: Telegraf did not start again.
func TestState_SavedBeforeFirstCommitRestores(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 90})
	evs := sim.EmitEnterprise(5)
	newAdminLogs := func() *BoxEvents {
		p := newPlugin(sim, "admin_logs")
		p.StartPosition = "now"
		p.CreatedAfter = time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
		return p
	}

	p := newAdminLogs()
	acc, _ := run(t, p)
	acc.Wait(len(evs)) // the outputs never take them
	p.Stop()
	st := p.GetState().(State)
	require.Equal(t, "0", st.StreamPosition, "nothing was committed")

	// Through JSON, as Telegraf's persister keeps it.
	buf, err := json.Marshal(st)
	require.NoError(t, err)
	var saved State
	require.NoError(t, json.Unmarshal(buf, &saved))

	p2 := newAdminLogs()
	require.NoError(t, p2.Init())
	require.NoError(t, p2.SetState(saved), "the agent must be able to start again")
	acc2 := &testutil.Accumulator{}
	require.NoError(t, p2.Start(acc2))
	t.Cleanup(p2.Stop)
	waitCommitted(t, p2, &output{acc: acc2}, sim.HeadPosition(boxsim.StreamAdminLogs))
	require.Equal(t, sorted(eventIDsOf(evs)), eventIDs(acc2.GetTelegrafMetrics()), "read again from created_after")
}

// A backfill saves its start in state_file at once: position "0" of
// admin_logs with the handover. Stopped before its first page was committed,
// the plugin could not start again from that state_file.
func TestStateFile_BackfillSavedBeforeFirstCommitResumes(t *testing.T) {
	mock := clock.NewMock()
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour)
	mock.Set(start.Add(time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 91, Clock: mock})
	old := sim.EmitEnterprise(4) // older than the streaming history: only admin_logs has them
	mock.Set(now)
	recent := sim.EmitEnterprise(3)

	path := filepath.Join(t.TempDir(), "box.state")
	newBackfilling := func() *BoxEvents {
		p := newPlugin(sim, "admin_logs_streaming")
		p.StartPosition = start.Format(time.RFC3339)
		p.StateFile = path
		p.backfillSettle = 0 // the plugin runs on the real clock
		return p
	}
	p := newBackfilling()
	acc, _ := run(t, p)
	acc.Wait(len(old) + len(recent)) // the outputs never take them
	p.Stop()
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotNil(t, st.Backfill, "stopped during the backfill")
	require.Equal(t, "0", st.StreamPosition, "nothing was committed")

	p2 := newBackfilling()
	acc2, out2 := run(t, p2)
	want := sorted(append(eventIDsOf(old), eventIDsOf(recent)...))
	require.Eventually(t, func() bool {
		out2.accept()
		return len(acc2.GetTelegrafMetrics()) >= len(want) && p2.reader.currentBackfill() == nil
	}, 20*time.Second, 5*time.Millisecond)
	waitCaughtUp(t, p2, out2, sim, boxsim.StreamAdminLogsStreaming)
	require.Equal(t, want, eventIDs(acc2.GetTelegrafMetrics()), "each event once, the backfill resumed")
}

// on_invalid_position = "lookback" restarts admin_logs at position 0 with
// created_after the lookback's start. Resumed from that "0", the plugin asked
// for admin_logs without created_after: a year of events, read to be dropped.
func TestState_LookbackSavedBeforeFirstCommitKeepsCreatedAfter(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 92})
	evs := sim.EmitEnterprise(3)
	start := func(st State) (*BoxEvents, *testutil.Accumulator) {
		p := newPlugin(sim, "admin_logs")
		p.StartPosition = "now"
		p.OnInvalidPosition = onInvalidLookback
		p.InvalidPositionLookback = config.Duration(time.Hour)
		require.NoError(t, p.Init())
		require.NoError(t, p.SetState(st))
		acc := &testutil.Accumulator{}
		require.NoError(t, p.Start(acc))
		t.Cleanup(p.Stop)
		return p, acc
	}

	p, acc := start(State{StreamType: "admin_logs", StreamPosition: "99999999999999999999999999"})
	acc.Wait(len(evs)) // the outputs never take them
	require.ErrorContains(t, acc.FirstError(), "on_invalid_position")
	p.Stop()
	st := p.GetState().(State)
	require.Equal(t, "0", st.StreamPosition, "nothing was committed since the restart")
	require.NotEmpty(t, st.NotBefore)

	seen := len(sim.RequestLog(boxsim.EndpointEvents))
	p2, acc2 := start(st)
	waitCommitted(t, p2, &output{acc: acc2}, sim.HeadPosition(boxsim.StreamAdminLogs))
	require.Equal(t, eventIDsOf(evs), eventIDs(acc2.GetTelegrafMetrics()))
	notBefore, err := time.Parse(time.RFC3339Nano, st.NotBefore)
	require.NoError(t, err)
	first := sim.RequestLog(boxsim.EndpointEvents)[seen]
	require.Equal(t, "0", first.Query.Get("stream_position"))
	require.Equal(t, notBefore.UTC().Format("2006-01-02T15:04:05-07:00"), first.Query.Get("created_after"),
		"position 0 of the lookback, not of all admin_logs")
}

// state_file may be a symlink, e.g. from the configuration's directory to a
// persistent volume: the position is written to its target, and the link is
// kept (replacing it cut it from the target, which kept the old position for
// the next container).
func TestStateFile_Symlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("creating symlinks needs privileges on Windows")
	}
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 43})
	sim.EmitEnterprise(3)
	target := filepath.Join(t.TempDir(), "box.state")
	link := filepath.Join(t.TempDir(), "box.state")
	require.NoError(t, os.Symlink(target, link))

	p := newPlugin(sim, "admin_logs_streaming")
	p.StateFile = link
	_, out := run(t, p)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	waitCommitted(t, p, out, head)
	p.Stop()

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSymlink, "the link is kept")
	st, ok, err := readStateFile(target)
	require.NoError(t, err)
	require.True(t, ok, "the target is written")
	require.Equal(t, head, st.StreamPosition)
}

// A state_file write that failed (a full disk) is tried again: the commit
// it held was lost, and a quiet stream saved nothing more, not even at Stop,
// so the next start replayed everything since the last write that worked.
func TestStateFile_FailedWriteIsRetried(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 44})
	sim.EmitEnterprise(3)
	mock := mockClock()
	path := filepath.Join(t.TempDir(), "box.state")
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StateFile = path
	acc, out := run(t, p)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	pump(t, mock, out, time.Second, func() bool {
		st, _, err := readStateFile(path)
		return err == nil && st.StreamPosition == head
	}, "the head was never written")

	// The next write fails: the file cannot be replaced.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, 0o700))
	sim.EmitEnterprise(2)
	catchUp(t, sim, p, mock, out)
	failures := func() int {
		n := 0
		for _, e := range errorTexts(acc) {
			if strings.Contains(e, "writing state_file") {
				n++
			}
		}
		return n
	}
	pump(t, mock, out, time.Second, func() bool { return failures() > 0 }, "the failed write was not reported")
	for range 5 {
		mock.Add(stateWriteEvery) // tried again each tick, reported once
	}
	require.Equal(t, 1, failures())

	require.NoError(t, os.Remove(path)) // room again
	p.Stop()
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok, "the commit was written once the file could be")
	require.Equal(t, sim.HeadPosition(boxsim.StreamAdminLogsStreaming), st.StreamPosition)
}

// Under commit_delay, Stop commits the pages that aged since the last tick of
// the commit ticker. That commit must reach state_file too (under execd the
// only state), or those pages are read again after the restart.
func TestStateFile_StopSavesWhatAgedSinceTheLastTick(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 45})
	sim.EmitEnterprise(3)
	mock := mockClock()
	path := filepath.Join(t.TempDir(), "box.state")
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StateFile = path
	p.CommitDelay = config.Duration(30 * time.Second)
	p.PollInterval = config.Duration(time.Hour) // no read in between
	acc, out := run(t, p)
	acc.Wait(3)

	// Delivered half a second after the commit ticker's last tick, so it ages
	// between two ticks.
	mock.Add(500 * time.Millisecond)
	out.accept()
	require.Eventually(t, func() bool {
		p.tracker.mu.Lock()
		defer p.tracker.mu.Unlock()
		return len(p.tracker.queue) > 0 && p.tracker.queue[0].done
	}, 10*time.Second, time.Millisecond)
	mock.Add(29700 * time.Millisecond) // the ticks up to here find it 29.7 s old
	mock.Add(500 * time.Millisecond)   // 30.2 s old, and no tick since
	p.Stop()

	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	require.Equal(t, head, p.GetState().(State).StreamPosition, "Stop committed it")
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok, "state_file was written")
	require.Equal(t, head, st.StreamPosition)
}

// on_invalid_position = "now" forgets the position until Box tells the
// current one. A commit not yet written (state_file is written at most once a
// second) was then saved with no position at all, and the plugin refused to
// start from that state_file ("holds no stream_position").
func TestStateFile_NeverWrittenWithoutPosition(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 93})
	sim.EmitEnterprise(6)
	mock := mockClock() // still: the commits below fall within one second
	path := filepath.Join(t.TempDir(), "box.state")
	newPlugin := func() *BoxEvents {
		p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
		p.StateFile = path
		p.PageSize = 2
		p.MaxUndeliveredPages = 1 // a page is read once the one before is committed
		p.OnInvalidPosition = onInvalidNow
		return p
	}
	p := newPlugin()
	acc, out := run(t, p)
	acc.Wait(2)
	out.accept() // written at once
	acc.Wait(4)
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultInvalidPosition}) // the third page
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultHang})            // the current position
	out.accept()                                                                            // within the second: left for later
	require.NoError(t, sim.WaitRequests(boxsim.EndpointEvents, 4, 10*time.Second))
	acc.WaitError(1)
	p.Stop()

	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEmpty(t, st.StreamPosition)
	p2 := newPlugin()
	require.NoError(t, p2.Init(), "the plugin must start again from its state_file")
	p2.Stop()
}

// At the end of a backfill the plugin waits for the last admin_logs pages
// to be committed before the handover. It read admin_logs every second
// meanwhile: with the outputs down, 60 requests a minute instead of one per
// poll_interval, for as long as they stayed down.
func TestBackfill_NoBusyPollingWhileTheLastPagesWait(t *testing.T) {
	mock := mockClock()
	now := mock.Now()
	start := now.Add(-30 * 24 * time.Hour)
	mock.Set(start.Add(time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 94, Clock: mock})
	old := sim.EmitEnterprise(3)
	mock.Set(now)

	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.StartPosition = start.Format(time.RFC3339)
	p.PollInterval = config.Duration(15 * time.Second)
	acc, _ := run(t, p)
	acc.Wait(len(old)) // the outputs are down: the pages stay in flight
	gets := sim.Requests(boxsim.EndpointEvents)
	for range 60 {
		mock.Add(time.Second)
		time.Sleep(time.Millisecond) // let the plugin take its turn; the bound below holds whatever the pace
	}
	require.LessOrEqual(t, sim.Requests(boxsim.EndpointEvents)-gets, 60/15+1, "one read per poll_interval while nothing is new")
	require.NotNil(t, p.reader.currentBackfill(), "no handover before the last pages are committed")
}
