package plugin_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationOnePointPerEvent: InfluxDB keeps one point per measurement, tag set and
// timestamp, so every distinct event must get a timestamp of its own in its series, also
// when it lacks what the timestamp is normally made of. Per stream, in one page, events of
// one user and type that each must be its own point in InfluxDB (simulated Box ->
// telegraf-box -> Telegraf -> InfluxDB), as each is its own line in the file output.
func TestIntegrationOnePointPerEvent(t *testing.T) {
	requireIntegration(t)
	const user = `"created_by":{"type":"user","id":"901","login":"bulk@example.com"}`
	// Without a usable created_at: read in one page, at one moment.
	t.Run("untimed", func(t *testing.T) {
		runOnePointPerEvent(t, func(s boxsim.Stream, i int, _ string) string {
			return fmt.Sprintf(`{"type":"event","event_id":"untimed-%s-%d","event_type":"ITEM_UPLOAD",%s,"source":{"type":"file","id":"%d"}}`,
				s, i, user, 7000+i)
		}, 0)
	})
	// Without an event_id, in one second: Box documents an id on every event, but an event
	// without one is still written (TestIntegrationNearlyEmptyEvents).
	t.Run("without_id", func(t *testing.T) {
		runOnePointPerEvent(t, func(_ boxsim.Stream, i int, second string) string {
			return fmt.Sprintf(`{"type":"event","event_type":"ITEM_UPLOAD","created_at":%q,%s,"source":{"type":"file","id":"%d"}}`,
				second, user, 8000+i)
		}, 5)
	})
}

// runOnePointPerEvent adds five raw events per stream, made by event(stream, i, second) with
// second a created_at shared by all, between traffic, and requires InfluxDB to hold as many
// points as events; withoutID of the five per stream have no event_id.
func runOnePointPerEvent(t *testing.T, event func(s boxsim.Stream, i int, second string) string, withoutID int) {
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	const database = "box_points"
	const each = 5

	sim.EmitUser(5)
	sim.EmitEnterprise(5)
	second := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	for _, s := range []boxsim.Stream{boxsim.StreamAll, boxsim.StreamAdminLogsStreaming} {
		for i := range each {
			_, err := sim.AddRawEvent(s, json.RawMessage(event(s, i, second)))
			require.NoError(t, err)
		}
	}
	sim.EmitUser(5)
	sim.EmitEnterprise(5)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, deliveryStreams(sim.URL(), dir, commitDelay),
		influxOutputTable(db.url, database), fileOutputTable(outPath))
	killLeftoverChildren(t, setup.confPaths()...)
	proc := startProcess(t, "telegraf", logPath, setup.argv...)

	produced := producedIDs(sim) // events without an id are not listed
	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	waitFor(t, time.Minute, "every event with an id in the file output", allPresent(produced, fileCounts))
	points := func() (bool, string) {
		var short []string
		for _, s := range bothStreams {
			n, err := db.countEventIDs(database, s)
			if err != nil {
				return false, err.Error()
			}
			if want := int64(len(produced[s]) + withoutID); n < want {
				short = append(short, fmt.Sprintf("%s: %d points of %d events", s, n, want))
			}
		}
		return len(short) == 0, strings.Join(short, "; ")
	}
	ok, status := poll(drainTimeout, points)
	proc.stop(t)

	out := readFileOutput(t, outPath)
	require.Len(t, out.badLines, len(bothStreams)*withoutID, "the file output has each event without an id as a line of its own")
	require.True(t, ok, "InfluxDB lost events the file output has: %s", status)
	for _, s := range bothStreams {
		ids, err := db.pointIDs(database, s)
		require.NoError(t, err)
		require.Equal(t, withoutID, ids[""], "%s: a point for each event without an id", s)
		delete(ids, "")
		requireExactlyOnce(t, "InfluxDB", s, produced[s], ids)
	}
	requireNoCrash(t, logPath)
}
