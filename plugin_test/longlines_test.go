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

// inputs.execd reads telegraf-box's stderr a line at a time with a 64 KiB line bound. An odd
// event whose id is longer than that, in a log line (no usable created_at: the warning names
// the first such event), made Telegraf stop reading stderr for good ("bufio.Scanner: token too
// long"); the next long line then filled the pipe, and telegraf-box blocked in its logger with
// the stream it was reading: nothing more reached InfluxDB. Simulated Box -> telegraf-box ->
// Telegraf -> InfluxDB.
func TestIntegrationLongLogLinesKeepTheStreamGoing(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)

	odd := func(i int) string {
		id := fmt.Sprintf("odd-%d-%s", i, strings.Repeat("x", 100<<10))
		raw := fmt.Sprintf(`{"type":"event","event_id":%q,"event_type":"LOGIN",`+
			`"created_by":{"type":"user","id":"20110001","login":"dana.ortiz@example.com"}}`, id)
		_, err := sim.AddRawEvent(boxsim.StreamAdminLogsStreaming, json.RawMessage(raw))
		require.NoError(t, err)
		return id
	}
	dir := t.TempDir()
	const database = "box_long_logs"
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, []streamConfig{{simURL: sim.URL(), stream: enterpriseStream}},
		influxOutputTable(db.url, database))
	killLeftoverChildren(t, setup.confPaths()...)
	proc := startProcess(t, "telegraf", logPath, setup.argv...)

	// Three pages, each with an odd event, each read once the one before is in InfluxDB.
	var counts map[string]int
	for i := range 3 {
		sim.EmitEnterprise(5)
		odd(i)
		sim.EmitEnterprise(5)
		produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)
		poll(time.Minute, func() (bool, string) {
			var err error
			if counts, err = db.pointIDs(database, enterpriseStream); err != nil {
				return false, err.Error()
			}
			return len(missingIDs(produced, counts)) == 0, ""
		})
		missing := missingIDs(produced, counts)
		require.Empty(t, first(missing, 3), "page %d: %d of %d events missing from InfluxDB", i+1, len(missing), len(produced))
	}
	proc.stop(t)

	warned := 0
	for _, line := range readLog(t, logPath) {
		require.NotContains(t, line, "token too long", "Telegraf stopped reading telegraf-box's stderr")
		if strings.Contains(line, "had no usable created_at") {
			warned++
		}
	}
	require.Equal(t, 3, warned, "one warning a page, each logged by Telegraf")
	requireNoCrash(t, logPath)
}
