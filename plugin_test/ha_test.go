package plugin_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIntegrationHighAvailability is issue 7 §7: two collectors read the same streams
// into one InfluxDB, each with its own Telegraf, state and credentials' token (client
// credentials), as two machines would: one compiled in, one under execd, with
// different host names (the host tag is dropped, as the README's high-availability
// setup says). One dies for good mid-run. Every point is fixed by the event (tags and
// a timestamp derived from created_at and event_id), so the survivor's points and the
// dead one's fold into one per event: InfluxDB holds each event exactly once, nothing
// is missing after the loss.
func TestIntegrationHighAvailability(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, rng := testSeed(t)
	db := startInfluxDB(t)
	sim := startDeliverySim(t, seed)
	const database = "box_ha"

	dirA, dirB := t.TempDir(), t.TempDir()
	logA, logB := filepath.Join(dirA, "telegrafrun.log"), filepath.Join(dirB, "telegraf.log")
	outA, outB := filepath.Join(dirA, "out.lp"), filepath.Join(dirB, "out.lp")
	logTailOnFailure(t, logA)
	logTailOnFailure(t, logB)
	argvA := writeCompiledInConfigWith(t, dirA, agentConfig{statefile: filepath.Join(dirA, "agent.state"), hostname: "collector-a"},
		runner, deliveryStreams(sim.URL(), dirA, ""), influxOutputTable(db.url, database), fileOutputTable(outA))
	setupB := writeExecdConfigWith(t, dirB, agentConfig{hostname: "collector-b", telegraf: telegraf, telegrafBox: telegrafBox},
		deliveryStreams(sim.URL(), dirB, commitDelay), influxOutputTable(db.url, database), fileOutputTable(outB))
	killLeftoverChildren(t, setupB.confPaths()...)

	prod := startProducing(t, sim, seed)
	a := startProcess(t, "collector-a", logA, argvA...)
	b := startProcess(t, "collector-b", logB, setupB.argv...)
	d := sleepBetween(rng, 3*time.Second, 6*time.Second)
	b.killGroup(t) // the machine is gone: Telegraf and its telegraf-box children
	t.Logf("collector B lost for good after %s", d.Round(time.Millisecond))
	time.Sleep(4 * time.Second) // traffic only collector A sees
	prod.stop()

	produced := producedIDs(sim)
	if ok, status := poll(drainTimeout, allPresent(produced, db.eventIDs(database))); !ok {
		t.Logf("InfluxDB did not get every produced event within %s: %s", drainTimeout, status)
	}
	a.stop(t)
	for _, o := range []struct{ name, path string }{{"A", outA}, {"B", outB}} {
		out := readFileOutput(t, o.path)
		n := 0
		for _, s := range bothStreams {
			n += len(out.counts[s])
		}
		t.Logf("collector %s wrote %d distinct events", o.name, n)
		require.Positive(t, n, "collector %s wrote nothing: the test proves no overlap", o.name)
	}
	requireInfluxExactlyOnce(t, db, database, produced)
	requireNoCrash(t, logA)
}
