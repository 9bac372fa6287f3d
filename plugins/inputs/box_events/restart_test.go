package box_events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

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

// A backfill of admin_logs_streaming from admin_logs records its start in
// state_file at once, at position "0" of admin_logs. A restart before the
// first admin_logs page was committed (under execd, within commit_delay) must
// go on with the backfill, not fail at Init (execd restarts it for ever).
func TestStateFile_RestartDuringBackfillBeforeFirstCommit(t *testing.T) {
	mock := clock.NewMock()
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour)
	mock.Set(start.Add(time.Hour))
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 41, Clock: mock})
	old := sim.EmitEnterprise(5) // older than the streaming history: only admin_logs has them
	mock.Set(now)

	path := filepath.Join(t.TempDir(), "box.state")
	newBackfill := func() *BoxEvents {
		p := newPlugin(sim, "admin_logs_streaming")
		p.StartPosition = start.Format(time.RFC3339)
		p.StateFile = path
		p.backfillSettle = 0
		return p
	}
	p := newBackfill()
	acc, _ := run(t, p)
	acc.Wait(len(old)) // never accepted
	p.Stop()
	st, ok, err := readStateFile(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotNil(t, st.Backfill, "the backfill was recorded")

	p2 := newBackfill()
	acc2, out2 := run(t, p2)
	require.Eventually(t, func() bool {
		out2.accept()
		return acc2.NMetrics() >= uint64(len(old)) && p2.reader.currentBackfill() == nil
	}, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, eventIDsOf(old), eventIDs(acc2.GetTelegrafMetrics()))
}

// state_file may be a symlink, e.g. from the configuration's directory to a
// persistent volume: the position is written to its target, and the link is
// kept (replacing it cut it from the target, which kept the old position for
// the next container).
func TestStateFile_Symlink(t *testing.T) {
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
