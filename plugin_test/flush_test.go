package plugin_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationCompiledInSmallPagesDoNotWaitForAFlush: compiled into Telegraf, a
// page's delivery notice comes only once an output wrote it, at the next flush. The
// long poll of a user stream brings a page of one or a few events per change; with
// the notices bounded by max_undelivered_pages pages, the plugin stopped reading
// after that many pages until the next flush (10 s by default, here 60 s). Reading
// now goes on while the events awaiting a flush stay below page_size ×
// max_undelivered_pages, and the flush then delivers every event once.
func TestIntegrationCompiledInSmallPagesDoNotWaitForAFlush(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	stream := streamConfig{simURL: sim.URL(), stream: userStream, pageSize: 100, maxPages: 5}
	argv := writeCompiledInConfigWith(t, dir, agentConfig{flush: "60s"}, runner, []streamConfig{stream}, fileOutputTable(outPath))
	proc := startProcess(t, "telegraf", logPath, argv...)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 30*time.Second), "the user stream never long-polled")

	// Twenty changes, one event each, every one read before the next comes: four
	// times max_undelivered_pages pages, all waiting for the one flush.
	const changes = 20
	for i := range changes {
		gets := sim.Requests(boxsim.EndpointEvents)
		sim.EmitUser(1)
		waitFor(t, 20*time.Second, "the plugin reads the page of each change without waiting for a flush (60 s)",
			func() (bool, string) {
				n := sim.Requests(boxsim.EndpointEvents)
				return n > gets, fmt.Sprintf("change %d: no GET /events since the change", i+1)
			})
		require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, i+2, 20*time.Second),
			"change %d: the plugin did not go back to the long poll", i+1)
	}
	require.Zero(t, readFileOutput(t, outPath).lines, "nothing is flushed before flush_interval")

	// A clean stop flushes: every event, once.
	proc.stop(t)
	out := readFileOutput(t, outPath)
	require.Empty(t, out.badLines)
	requireExactlyOnce(t, "file output", userStream, producedIDs(sim)[userStream], out.counts[userStream])
	requireNoCrash(t, logPath)
}
