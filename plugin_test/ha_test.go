package plugin_test

import (
	"fmt"
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

// TestIntegrationHighAvailabilityHealth: the collector-health rules watch each
// collector of a high-availability pair, set up as the README says (the host tag
// dropped, a state of its own, and an alias of its own, which is the id tag of its
// self-metrics). Both collectors read the same stream under a real Telegraf's
// inputs.execd into one InfluxDB, self-metrics every 2 s; one dies for good.
// box-collector-down (compressed 30 times, as in TestIntegrationCollectorHealth)
// must fire for the dead one, never for the survivor, and no rule fires while both
// run. Without an alias of its own each, both collectors' internal_box_events share
// stream_type and id (the ID covers the stream and the credentials, the same on both
// machines): one series, which the survivor keeps alive, so the loss never showed.
func TestIntegrationHighAvailabilityHealth(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	t.Parallel() // mostly waiting on a wall-clock timeline: alongside the other such tests
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	const database = "box_ha_health"

	var rules []alertRule
	for _, r := range loadAlertRules(t) {
		if r.file == "collector.yaml" {
			rules = append(rules, r.compressed(healthCompression))
		}
	}
	require.NotEmpty(t, rules)

	collectors := []string{"collector-a", "collector-b"}
	procs := make([]*process, len(collectors))
	prod := startProducing(t, sim, seed)
	start := time.Now()
	for i, host := range collectors {
		dir := t.TempDir()
		logPath := filepath.Join(dir, "telegraf.log")
		logTailOnFailure(t, logPath)
		stream := streamConfig{
			simURL: sim.URL(), stream: enterpriseStream, stateFile: filepath.Join(dir, "box.state"),
			extra: fmt.Sprintf("  stats_interval = %q\n  alias = %q\n", healthStatsInterval, host),
		}
		setup := writeExecdConfigWith(t, dir, agentConfig{hostname: host, telegraf: telegraf, telegrafBox: telegrafBox},
			[]streamConfig{stream}, influxOutputTable(db.url, database))
		killLeftoverChildren(t, setup.confPaths()...)
		procs[i] = startProcess(t, host, logPath, setup.argv...)
	}
	const bothFor, aloneFor = 30 * time.Second, 40 * time.Second
	time.Sleep(time.Until(start.Add(bothFor)))
	lostAt := time.Now()
	procs[1].killGroup(t) // collector-b's machine is gone
	time.Sleep(aloneFor)
	end := time.Now()
	prod.stop()
	procs[0].stop(t)

	res, err := db.query(database, `SHOW TAG VALUES FROM "internal_box_events" WITH KEY = "id"`)
	require.NoError(t, err)
	t.Logf("internal_box_events ids: %v", res.Series)

	downFor := make(map[string]time.Time) // id -> first firing of box-collector-down
	for _, r := range rules {
		for _, f := range r.evaluateOver(t, db, database, start.Add(10*time.Second), end) {
			t.Logf("%s fired at +%s with %v", r.UID, f.at.Sub(start).Round(time.Second), f.labels)
			require.False(t, f.at.Before(lostAt), "%s fired at +%s with %v while both collectors ran (one lost at +%s)",
				r.UID, f.at.Sub(start).Round(time.Second), f.labels, lostAt.Sub(start).Round(time.Second))
			if r.UID == "box-collector-down" {
				if _, ok := downFor[f.labels["id"]]; !ok {
					downFor[f.labels["id"]] = f.at
				}
			}
		}
	}
	_, survivor := downFor[collectors[0]]
	require.False(t, survivor, "box-collector-down fired for the collector that ran all along")
	_, lost := downFor[collectors[1]]
	require.True(t, lost, "box-collector-down did not fire for the collector lost at +%s (fired for: %v)",
		lostAt.Sub(start).Round(time.Second), downFor)
}
