package plugin_test

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Issue 3: no event may be lost or doubled whatever dies when. The proof is InfluxDB's
// content after kill -9 of every process at random moments and an InfluxDB outage,
// with Box repeating events, reordering them and failing requests. InfluxDB keeps one
// point per series and timestamp, and the plugin gives each event a timestamp derived
// from its id, so a replayed event folds into its first point: replays are allowed,
// losses are not. COUNT(event_id) = produced events shows that no two events share a
// point (overwritten) and no event got two points (doubled).

const (
	// kills is how many times each delivery test kills a process with SIGKILL.
	kills = 12
	// commitDelay is the execd plugin's commit_delay: a page's position is saved only
	// once its lines have been on stdout this long, well past Telegraf's 1s flush.
	commitDelay = "3s"
	// drainTimeout bounds the wait for InfluxDB to catch up once production stops
	// (seconds when nothing was lost; events lost for good never arrive).
	drainTimeout = time.Minute
)

// TestIntegrationDeliveryCompiledIn runs Telegraf's agent with box_events compiled in
// (plugin_test/telegrafrun), kills it with SIGKILL at random moments, restarting it
// each time, and stops InfluxDB for several of those runs.
//
// Each table has a state_file as well as the agent's statefile: Telegraf writes its
// statefile only on a clean shutdown, so after kill -9 only state_file (written after
// each delivered page) lets the plugin resume instead of replaying from
// start_position "0" — which would pass at InfluxDB too, but prove nothing.
func TestIntegrationDeliveryCompiledIn(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	requireInfluxDB(t)
	seed, rng := testSeed(t)
	db := startInfluxDB(t)
	sim := startDeliverySim(t, seed)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegrafrun.log")
	logTailOnFailure(t, logPath)
	const database = "box_delivery_compiled_in"
	argv := writeCompiledInConfig(t, dir, runner, filepath.Join(dir, "agent.state"),
		deliveryStreams(sim.URL(), dir, ""), influxOutputTable(db.url, database), fileOutputTable(outPath))

	prod := startProducing(t, sim, seed)
	for i := range kills {
		proc := startProcess(t, "telegrafrun", logPath, argv...)
		// InfluxDB is away for runs 5 to 8: those runs are killed with pages that
		// were read but never written, which must not count as delivered.
		switch i {
		case 4:
			db.stop(t)
			t.Log("InfluxDB stopped")
		case 8:
			db.restart(t)
			t.Log("InfluxDB restarted")
		}
		d := sleepBetween(rng, 500*time.Millisecond, 4*time.Second)
		require.False(t, proc.exited(), "telegrafrun exited on its own: %v", proc.err)
		proc.kill9(t)
		t.Logf("kill -9 #%d: telegrafrun after %s", i+1, d.Round(time.Millisecond))
	}
	proc := startProcess(t, "telegrafrun", logPath, argv...)
	time.Sleep(3 * time.Second) // live traffic for the last run too
	prod.stop()

	produced := producedIDs(sim)
	// On a timeout, go on: the checks below say what is missing or doubled.
	if ok, status := poll(drainTimeout, allPresent(produced, db.eventIDs(database))); !ok {
		t.Logf("InfluxDB did not get every produced event within %s: %s", drainTimeout, status)
	}
	proc.stop(t)
	logFileOutputStats(t, outPath, produced)
	logFaults(t, sim)
	requireInfluxExactlyOnce(t, db, database, produced)
	requireNoCrash(t, logPath)
	requireNoRealtimeCredentials(t, sim)
}

// TestIntegrationDeliveryExecd runs a real Telegraf with one telegraf-box per stream
// (commit_delay, state_file) and kills telegraf-box or Telegraf itself with SIGKILL at
// random moments. Then, separately and killing nothing, InfluxDB goes away for a
// while: Telegraf must keep the lines and write them once it is back. (A Telegraf
// killed during an outage loses its buffer for good; no execd plugin can prevent
// that, since execd gives no acknowledgement, so the two are not combined.)
func TestIntegrationDeliveryExecd(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, rng := testSeed(t)
	db := startInfluxDB(t)
	sim := startDeliverySim(t, seed)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_delivery_execd"
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, deliveryStreams(sim.URL(), dir, commitDelay),
		influxOutputTable(db.url, database), fileOutputTable(outPath))
	killLeftoverChildren(t, setup.confPaths()...)

	prod := startProducing(t, sim, seed)
	tg := startProcess(t, "telegraf", logPath, setup.argv...)
	for i, target := range killSchedule(rng) {
		d := sleepBetween(rng, time.Second, 4*time.Second)
		require.False(t, tg.exited(), "Telegraf exited on its own: %v", tg.err)
		if target == "telegraf" {
			tg.kill9(t)
			// Its telegraf-box children see stdin close and stop; a new Telegraf
			// starts new ones, which must not overlap the old ones' state_file.
			waitChildrenGone(t, 15*time.Second, setup.confPaths()...)
			tg = startProcess(t, "telegraf", logPath, setup.argv...)
		} else {
			killChild(t, setup.pluginConfs[target])
		}
		t.Logf("kill -9 #%d: %s after %s", i+1, target, d.Round(time.Millisecond))
	}

	sleepBetween(rng, time.Second, 3*time.Second)
	db.stop(t)
	t.Log("InfluxDB stopped; nothing is killed until it is back")
	time.Sleep(8 * time.Second)
	db.restart(t)
	t.Log("InfluxDB restarted")
	time.Sleep(2 * time.Second)
	prod.stop()

	produced := producedIDs(sim)
	// On a timeout, go on: the checks below say what is missing or doubled.
	if ok, status := poll(drainTimeout, allPresent(produced, db.eventIDs(database))); !ok {
		t.Logf("InfluxDB did not get every produced event within %s: %s", drainTimeout, status)
	}
	tg.stop(t)
	logFileOutputStats(t, outPath, produced)
	logFaults(t, sim)
	requireInfluxExactlyOnce(t, db, database, produced)
	requireNoCrash(t, logPath)
	requireLevelledChildLogs(t, logPath)
	requireNoRealtimeCredentials(t, sim)
}

// TestIntegrationCleanRestartResumes stops the compiled-in agent cleanly (SIGTERM)
// and starts it again: the agent's statefile alone (no state_file) must let the plugin
// resume after the last delivered page, so the file output gets every event exactly
// once across the restart. Repeats Box sends after the restart must be dropped too,
// which needs the saved window of recent event ids.
func TestIntegrationCleanRestartResumes(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSim(t, seed)
	sim.EmitUser(120)
	sim.EmitEnterprise(120)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegrafrun.log")
	statefile := filepath.Join(dir, "agent.state")
	logTailOnFailure(t, logPath)
	argv := writeCompiledInConfig(t, dir, runner, statefile, plainStreams(sim.URL()), fileOutputTable(outPath))

	run1 := startProcess(t, "telegrafrun", logPath, argv...)
	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	waitFor(t, time.Minute, "run 1: every produced event in the file output", allPresent(producedIDs(sim), fileCounts))
	run1.stop(t)
	logAgentState(t, statefile)
	linesRun1 := readFileOutput(t, outPath).lines

	sim.EmitUser(60) // produced while Telegraf is down
	sim.EmitEnterprise(60)
	run2 := startProcess(t, "telegrafrun", logPath, argv...)
	prod := startProducing(t, sim, seed)
	time.Sleep(3 * time.Second)
	prod.stop()
	produced := producedIDs(sim)
	waitFor(t, time.Minute, "run 2: every produced event in the file output", allPresent(produced, fileCounts))
	run2.stop(t)

	out := readFileOutput(t, outPath)
	t.Logf("file output: %d lines in run 1, %d in run 2", linesRun1, out.lines-linesRun1)
	require.Empty(t, out.badLines)
	for _, s := range bothStreams {
		requireExactlyOnce(t, "file output across a clean restart", s, produced[s], out.counts[s])
	}
	requireNoCrash(t, logPath)
}

// startDeliverySim is startSim with some history to read first and random faults.
func startDeliverySim(t *testing.T, seed uint64) *boxsim.Server {
	t.Helper()
	sim := startSim(t, seed)
	sim.EmitUser(100)
	sim.EmitEnterprise(100)
	enableFaults(sim)
	return sim
}

// deliveryStreams are both streams, each with its own state_file in dir.
func deliveryStreams(simURL, dir, commitDelay string) []streamConfig {
	out := make([]streamConfig, 0, len(bothStreams))
	for _, s := range bothStreams {
		out = append(out, streamConfig{
			simURL:      simURL,
			stream:      s,
			stateFile:   filepath.Join(dir, s+".state"),
			commitDelay: commitDelay,
		})
	}
	return out
}

// plainStreams are both streams without state_file: only the agent's statefile.
func plainStreams(simURL string) []streamConfig {
	out := make([]streamConfig, 0, len(bothStreams))
	for _, s := range bothStreams {
		out = append(out, streamConfig{simURL: simURL, stream: s})
	}
	return out
}

// killSchedule is the shuffled order of the execd test's kills: Telegraf and each
// telegraf-box a third of the time.
func killSchedule(rng *rand.Rand) []string {
	targets := make([]string, 0, kills)
	for i := range kills {
		targets = append(targets, []string{"telegraf", userStream, enterpriseStream}[i%3])
	}
	rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	return targets
}

// requireInfluxExactlyOnce checks InfluxDB against what Box produced, per stream: the
// same set of event ids, one point each, and COUNT(event_id) equal to their number.
func requireInfluxExactlyOnce(t *testing.T, db *influxDB, database string, produced map[string][]string) {
	t.Helper()
	for _, s := range bothStreams {
		points, err := db.pointIDs(database, s)
		require.NoError(t, err)
		requireExactlyOnce(t, "InfluxDB", s, produced[s], points)
		count, err := db.countEventIDs(database, s)
		require.NoError(t, err)
		require.Equal(t, int64(len(produced[s])), count, "SELECT COUNT(event_id) for %s", s)
		t.Logf("InfluxDB holds the %d %s events exactly once", count, s)
	}
}

// logFileOutputStats reports what the outputs were handed before InfluxDB folded the
// replays: the parallel file output sees every line Telegraf flushed.
func logFileOutputStats(t *testing.T, outPath string, produced map[string][]string) {
	t.Helper()
	out := readFileOutput(t, outPath)
	for _, s := range bothStreams {
		lines, extra := repeats(out.counts[s])
		t.Logf("file output, %s: %d lines for %d produced events (%d written again, %d missing there)",
			s, lines, len(produced[s]), extra, len(missingIDs(produced[s], out.counts[s])))
	}
	if len(out.badLines) > 0 {
		t.Logf("file output: %d torn lines (a write cut short by kill -9)", len(out.badLines))
	}
}

// logAgentState logs the positions in Telegraf's statefile ({"<plugin id>": base64
// JSON state}); it must exist after a clean stop.
func logAgentState(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "Telegraf wrote no statefile on a clean stop")
	var states map[string][]byte
	require.NoError(t, json.Unmarshal(data, &states), "statefile %s", path)
	for id, raw := range states {
		id = id[:min(8, len(id))]
		var st struct {
			StreamType     string `json:"stream_type"`
			StreamPosition string `json:"stream_position"`
			RecentEvents   string `json:"recent_events"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Logf("statefile: %s: %s", id, base64.StdEncoding.EncodeToString(raw))
			continue
		}
		t.Logf("statefile: %s: %s at %s with %d recent events", id, st.StreamType, st.StreamPosition, len(st.RecentEvents)*3/4/8)
	}
}
