package plugin_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationTelegrafFiltersDoNotStallTheStream: Telegraf drops a metric its
// input's filters refuse (namedrop, tagdrop, ...) and a metric an aggregator with
// drop_original takes or discards, and counts it as delivered (metric.Drop). Compiled in, the
// plugin commits a page only once all its metrics were delivered, and reads at most
// page_size × max_undelivered_pages uncommitted events: were dropped metrics not
// counted, reading would stop after that many. Here the window is 100 events and the
// stream holds 1,000: the position must reach the head, and the file output must hold
// exactly the events the filter let through.
func TestIntegrationTelegrafFiltersDoNotStallTheStream(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})
	events := sim.EmitEnterprise(1000)
	perType := make(map[string]int)
	for _, e := range events {
		perType[e.Type]++
	}
	dropped := ""
	for typ, n := range perType {
		if typ != "" && (dropped == "" || n > perType[dropped]) {
			dropped = typ
		}
	}
	t.Logf("dropping event_type %s: %d of %d events", dropped, perType[dropped], len(events))

	cases := []struct {
		name   string
		extra  string // more lines for the input's table
		output string // more tables: an aggregator
		kept   func(e boxsim.Event) bool
	}{
		{
			name:  "namedrop_everything",
			extra: "  namedrop = [\"box_events\"]\n",
			kept:  func(boxsim.Event) bool { return false },
		},
		{
			name:  "tagdrop_an_event_type",
			extra: fmt.Sprintf("  [inputs.box_events.tagdrop]\n    event_type = [%s]\n", tomlString(dropped)),
			kept:  func(e boxsim.Event) bool { return e.Type != dropped },
		},
		{
			// An aggregator places a metric by its timestamp, the event's created_at,
			// and discards one older than its period (a debug line): with
			// drop_original such events are gone, and the plugin, told they were
			// delivered, commits past them. The README says to set grace.
			name: "aggregator_drop_original_without_grace",
			output: fmt.Sprintf("[[aggregators.merge]]\n  drop_original = true\n  period = \"1s\"\n"+
				"  [aggregators.merge.tagpass]\n    event_type = [%s]\n", tomlString(dropped)),
			kept: func(e boxsim.Event) bool { return e.Type != dropped },
		},
		{
			// With a grace covering the events' age the aggregator takes them; merge
			// then writes one metric per event (each has a timestamp of its own).
			name: "aggregator_drop_original_with_grace",
			output: fmt.Sprintf("[[aggregators.merge]]\n  drop_original = true\n  period = \"1s\"\n  grace = \"87600h\"\n"+
				"  [aggregators.merge.tagpass]\n    event_type = [%s]\n", tomlString(dropped)),
			kept: func(boxsim.Event) bool { return true },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegrafrun.log")
			logTailOnFailure(t, logPath)
			statePath := filepath.Join(dir, "box.state")
			stream := streamConfig{simURL: sim.URL(), stream: enterpriseStream, stateFile: statePath, pageSize: 50, maxPages: 2,
				extra: tc.extra}
			argv := writeCompiledInConfigWith(t, dir, agentConfig{}, runner, []streamConfig{stream},
				fileOutputTable(outPath), tc.output)
			proc := startProcess(t, "telegrafrun", logPath, argv...)
			head, err := strconv.ParseUint(sim.HeadPosition(boxsim.StreamAdminLogsStreaming), 10, 64)
			require.NoError(t, err)
			waitFor(t, time.Minute, "the position reaches the head of the stream", func() (bool, string) {
				var st struct {
					StreamPosition string `json:"stream_position"`
				}
				data, err := os.ReadFile(statePath)
				if err == nil {
					err = json.Unmarshal(data, &st)
				}
				var pos uint64
				if err == nil {
					pos, err = strconv.ParseUint(st.StreamPosition, 10, 64)
				}
				return err == nil && pos >= head, fmt.Sprintf("state_file at %q, head %d (%v)", st.StreamPosition, head, err)
			})
			proc.stop(t)

			// The file output holds the events the filter let through, once each.
			want := make(map[string]bool)
			for _, e := range events {
				if tc.kept(e) {
					want[e.ID] = true
				}
			}
			out := readFileOutput(t, outPath)
			got := out.counts[enterpriseStream]
			require.Len(t, got, len(want), "events in the file output")
			for id, n := range got {
				require.True(t, want[id], "event %s should have been dropped", id)
				require.Equal(t, 1, n, "event %s", id)
			}
			requireNoCrash(t, logPath)
		})
	}
}
