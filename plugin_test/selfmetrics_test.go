package plugin_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// selfMetricFields are the fields of internal_box_events, as the plugin's README
// documents them.
var selfMetricFields = []string{
	"events_emitted", "duplicates_dropped", "events_filtered", "pages_fetched", "api_requests",
	"api_errors_4xx", "api_errors_5xx", "api_errors_network", "api_errors_decode",
	"rate_limited", "rate_limited_wait_ms", "token_refreshes", "token_failures",
	"longpoll_reconnects", "positions_rejected", "pages_rewound", "events_refused",
	"lag_seconds", "commit_age_seconds", "pages_in_flight",
}

// selfMetricsAlias is the alias of the enterprise input: its self-metrics are
// tagged id=<alias>; the user stream's, which has none, with the start of its ID.
const selfMetricsAlias = "audit"

// TestIntegrationSelfMetrics is issue 10's self-metrics under execd, end to end: a
// real Telegraf runs telegraf-box, which writes measurement internal_box_events itself
// every stats_interval (Telegraf cannot see its selfstat), to a real InfluxDB, with
// the documented fields and tags, and events_emitted is the number of events
// delivered. Compiled in, [[inputs.internal]] reports the same measurement; that is
// checked on the Telegraf the README's compile-in steps build
// (TestIntegrationCompileInReadmeSteps): plugin_test/telegrafrun cannot import
// inputs.internal (a Go internal package of Telegraf's tree).
func TestIntegrationSelfMetrics(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	runSelfMetrics(t, func(t *testing.T, dir string, streams []streamConfig, output string) []string {
		for i := range streams {
			streams[i].extra += "  stats_interval = \"2s\"\n"
		}
		setup := writeExecdConfig(t, dir, telegraf, telegrafBox, streams, output)
		killLeftoverChildren(t, setup.confPaths()...)
		return setup.argv
	})
}

func runSelfMetrics(t *testing.T, writeConfig writeConfigFunc) {
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	sim.EmitUser(120)
	sim.EmitEnterprise(150)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_self"
	streams := plainStreams(sim.URL())
	for i := range streams {
		if streams[i].stream == enterpriseStream {
			streams[i].extra += fmt.Sprintf("  alias = %s\n", tomlString(selfMetricsAlias))
		}
	}
	proc := startProcess(t, "telegraf", logPath, writeConfig(t, dir, streams, influxOutputTable(db.url, database))...)

	produced := producedIDs(sim)
	waitFor(t, drainTimeout, "every produced event in InfluxDB", allPresent(produced, db.eventIDs(database)))
	for _, stream := range bothStreams {
		delivered, err := db.countEventIDs(database, stream)
		require.NoError(t, err)
		require.EqualValues(t, len(produced[stream]), delivered, "%s: every event once", stream)
		waitFor(t, drainTimeout, stream+": events_emitted reaches the events delivered", func() (bool, string) {
			n, err := lastSelfMetric(db, database, stream, "events_emitted")
			if err != nil {
				return false, err.Error()
			}
			return n == delivered, fmt.Sprintf("events_emitted %d, delivered %d", n, delivered)
		})
		pages, err := lastSelfMetric(db, database, stream, "pages_fetched")
		require.NoError(t, err)
		require.Positive(t, pages, "%s: pages_fetched", stream)
		refreshes, err := lastSelfMetric(db, database, stream, "token_refreshes")
		require.NoError(t, err)
		require.Positive(t, refreshes, "%s: token_refreshes", stream)
	}
	proc.stop(t)
	requireNoCrash(t, logPath)

	// Every documented field, and the tags that tell the two inputs apart.
	res, err := db.query(database, `SHOW FIELD KEYS FROM "internal_box_events"`)
	require.NoError(t, err)
	require.Len(t, res.Series, 1)
	fields := make([]string, 0, len(res.Series[0].Values))
	for _, row := range res.Series[0].Values {
		fields = append(fields, row[0].(string))
		require.Equal(t, "integer", row[1], "field %v", row[0])
	}
	slices.Sort(fields)
	want := slices.Clone(selfMetricFields)
	slices.Sort(want)
	require.Equal(t, want, fields)

	res, err = db.query(database, `SHOW TAG VALUES FROM "internal_box_events" WITH KEY = "id"`)
	require.NoError(t, err)
	require.Len(t, res.Series, 1)
	ids := make([]string, 0, 2)
	for _, row := range res.Series[0].Values {
		ids = append(ids, row[1].(string))
	}
	require.Len(t, ids, 2, "one id per input: %v", ids)
	require.Contains(t, ids, selfMetricsAlias, "the alias names the enterprise input")
	for _, stream := range bothStreams {
		res, err := db.query(database, fmt.Sprintf(`SHOW TAG VALUES FROM "internal_box_events" WITH KEY = "id" WHERE "stream_type" = '%s'`, stream))
		require.NoError(t, err)
		require.Len(t, res.Series, 1, stream)
		require.Len(t, res.Series[0].Values, 1, "%s: one id", stream)
		if stream == userStream {
			require.Len(t, res.Series[0].Values[0][1], 12, "without alias, 12 characters of the input's ID")
		}
	}
}

// lastSelfMetric is the last value of an internal_box_events field for stream.
func lastSelfMetric(db *influxDB, database, stream, field string) (int64, error) {
	res, err := db.query(database, fmt.Sprintf(`SELECT last(%q) FROM "internal_box_events" WHERE "stream_type" = '%s'`, field, stream))
	if err != nil {
		return 0, err
	}
	if len(res.Series) != 1 || len(res.Series[0].Values) != 1 || len(res.Series[0].Values[0]) != 2 {
		return 0, fmt.Errorf("no %s of %s yet", field, stream)
	}
	n, ok := res.Series[0].Values[0][1].(json.Number)
	if !ok {
		return 0, fmt.Errorf("unexpected %s value %v", field, res.Series[0].Values[0][1])
	}
	return n.Int64()
}
