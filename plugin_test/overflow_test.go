package plugin_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Issue 7 §2: no position is committed behind events Telegraf dropped. Until then no
// end-to-end test let an output buffer overflow: every agent table here had a buffer
// far larger than any test produced.

const (
	// smallBuffer is the outputs' metric_buffer_limit: far below the backlog.
	smallBuffer = 2000
	// backlog is how many events each stream holds before the collector starts.
	backlog = 20000
	// overflowDrain bounds the wait for InfluxDB to catch up after the outage.
	overflowDrain = 3 * time.Minute
)

// startBacklogSim is a simulated Box holding backlog events on each stream, with
// random faults. Its pages are full while events remain, so a backlog is read as
// fast as Box answers.
func startBacklogSim(t *testing.T, seed uint64, events int) *boxsim.Server {
	t.Helper()
	sim := startSimWith(t, boxsim.Options{Seed: seed, MaxEvents: 3 * events})
	sim.EmitUser(events)
	sim.EmitEnterprise(events)
	enableFaults(sim)
	return sim
}

// overflowStreams are both streams with their state_file and page size.
func overflowStreams(simURL, dir string, size int, commitDelay string, maxPages int) []streamConfig {
	out := make([]streamConfig, 0, len(bothStreams))
	for _, s := range bothStreams {
		out = append(out, streamConfig{
			simURL: simURL, stream: s, stateFile: filepath.Join(dir, s+".state"),
			pageSize: size, commitDelay: commitDelay, maxPages: maxPages,
		})
	}
	return out
}

// TestIntegrationOverflowOutageCrash is §2's proof in both modes: a buffer of 2,000
// metrics, 20,000 events waiting on each stream, an InfluxDB outage longer than
// commit_delay, and Telegraf killed with SIGKILL during the outage. InfluxDB must end
// up holding exactly the produced set.
//
// Compiled in, the outputs' buffer overflows (10 pages of 500 per stream are in
// flight by default, 5 times the buffer): the rejected pages are read again, with
// backoff and a window of one page that grows with each commit. Under execd the
// documented setting is Telegraf's disk buffer, which holds what Telegraf was handed
// across the crash; positions are committed commit_delay after the lines were written.
func TestIntegrationOverflowOutageCrash(t *testing.T) {
	requireIntegration(t)
	requireInfluxDB(t)
	t.Run("compiled_in", func(t *testing.T) {
		runner := runnerBinary(t)
		runOverflow(t, func(t *testing.T, dir, simURL string, outputs ...string) deployment {
			agent := agentConfig{statefile: filepath.Join(dir, "agent.state"), bufferLimit: smallBuffer}
			argv := writeCompiledInConfigWith(t, dir, agent, runner, overflowStreams(simURL, dir, 500, "", 0), outputs...)
			return deployment{argv: argv}
		})
	})
	t.Run("execd_disk_buffer", func(t *testing.T) {
		telegraf, telegrafBox := execdBinaries(t)
		runOverflow(t, func(t *testing.T, dir, simURL string, outputs ...string) deployment {
			agent := agentConfig{bufferLimit: smallBuffer, diskBuffer: filepath.Join(dir, "buffer"), telegraf: telegraf, telegrafBox: telegrafBox}
			setup := writeExecdConfigWith(t, dir, agent, overflowStreams(simURL, dir, 500, commitDelay, 0), outputs...)
			killLeftoverChildren(t, setup.confPaths()...)
			return deployment{argv: setup.argv, children: setup.confPaths()}
		})
	})
}

// deployment is how to start a collector: its command, and for execd the plugin
// configs that identify its children.
type deployment struct {
	argv     []string
	children []string
}

type deployFunc func(t *testing.T, dir, simURL string, outputs ...string) deployment

func runOverflow(t *testing.T, deploy deployFunc) {
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startBacklogSim(t, seed, backlog)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_overflow"
	d := deploy(t, dir, sim.URL(), influxOutputTable(db.url, database))

	prod := startProducing(t, sim, seed)
	proc := startProcess(t, "telegraf", logPath, d.argv...)
	time.Sleep(2 * time.Second) // reading the backlog, writing to InfluxDB
	db.stop(t)
	t.Log("InfluxDB stopped")
	time.Sleep(6 * time.Second) // longer than commit_delay (3s)
	proc.kill9(t)
	t.Log("Telegraf killed with SIGKILL during the outage")
	if len(d.children) > 0 {
		waitChildrenGone(t, 15*time.Second, d.children...)
	}
	proc = startProcess(t, "telegraf", logPath, d.argv...)
	time.Sleep(2 * time.Second) // still no InfluxDB
	db.restart(t)
	t.Log("InfluxDB restarted")
	time.Sleep(2 * time.Second)
	prod.stop()

	produced := producedIDs(sim)
	t.Logf("produced %d %s and %d %s events", len(produced[userStream]), userStream,
		len(produced[enterpriseStream]), enterpriseStream)
	if ok, status := poll(overflowDrain, allPresent(produced, db.eventIDs(database))); !ok {
		t.Logf("InfluxDB did not get every produced event within %s: %s", overflowDrain, status)
	}
	proc.stop(t)
	requireInfluxExactlyOnce(t, db, database, produced)
	requireNoCrash(t, logPath)
	requireNoRealtimeCredentials(t, sim)
}

// TestIntegrationExecdMemoryBufferBounded shows what max_undelivered_pages means under
// execd with Telegraf's default memory buffer: a page's events keep their place until
// its position is committed, commit_delay after it was written, so at most page_size ×
// max_undelivered_pages events per stream sit uncommitted in Telegraf. With the
// documented setting (their sum at most metric_buffer_limit) an InfluxDB outage
// shorter than commit_delay loses nothing, although the backlog is larger than the
// buffer. Before, a page's place was free once its lines were on stdout: the backlog
// flooded the buffer, its oldest metrics were dropped, and their positions were
// committed all the same.
func TestIntegrationExecdMemoryBufferBounded(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startBacklogSim(t, seed, 3000)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_memory_buffer"
	// 2 streams × 100 events × 10 pages = 2,000 = metric_buffer_limit.
	setup := writeExecdConfigWith(t, dir, agentConfig{bufferLimit: smallBuffer, telegraf: telegraf, telegrafBox: telegrafBox},
		overflowStreams(sim.URL(), dir, 100, "5s", 10), influxOutputTable(db.url, database))
	killLeftoverChildren(t, setup.confPaths()...)

	// The outage starts before Telegraf does: the whole backlog is there to be
	// read at once, and nothing leaves Telegraf's buffer for two seconds.
	db.stop(t)
	prod := startProducing(t, sim, seed)
	proc := startProcess(t, "telegraf", logPath, setup.argv...)
	time.Sleep(2 * time.Second) // shorter than commit_delay (5s) minus flush_interval (1s)
	db.restart(t)
	time.Sleep(2 * time.Second)
	prod.stop()

	produced := producedIDs(sim)
	if ok, status := poll(overflowDrain, allPresent(produced, db.eventIDs(database))); !ok {
		t.Logf("InfluxDB did not get every produced event within %s: %s", overflowDrain, status)
	}
	proc.stop(t)
	requireInfluxExactlyOnce(t, db, database, produced)
	requireNoCrash(t, logPath)
}
