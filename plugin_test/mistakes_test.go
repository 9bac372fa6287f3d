package plugin_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Mistakes a user or a confused Box can make, and what they must not do.

// A misspelt option is an error in both modes, naming the key: the shim used to
// ignore it, so `stream_typ = "admin_logs"` silently read the default stream.
func TestIntegrationConfigTypoIsAnError(t *testing.T) {
	requireIntegration(t)
	_, telegrafBox := execdBinaries(t)
	runner := runnerBinary(t)
	dir := t.TempDir()
	table := boxEventsTable(streamConfig{simURL: "https://api.box.com", stream: "admin_logs"}) +
		"  stream_typ = \"admin_logs\"\n"

	for _, tt := range []struct {
		name string
		argv []string
	}{
		{"execd binary", []string{telegrafBox, "-config", writeFile(t, dir, "plugin.conf", table)}},
		{"compiled in", []string{runner, "-config", writeFile(t, dir, "telegraf.conf", agentTable(""), table)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tt.argv[0], tt.argv[1:]...)
			cmd.Stdin = strings.NewReader("") // execd keeps stdin open; EOF would stop a running plugin anyway
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "started with a misspelt option: %s", out)
			require.NotErrorIs(t, ctx.Err(), context.DeadlineExceeded)
			require.Contains(t, string(out), "stream_typ")
			require.Contains(t, string(out), "not used")
		})
	}
}

// Two inputs that differ only in event_types read different events, so they have
// different state IDs; they used to share one, and Telegraf refused to start
// ("plugin with ID ... already registered").
func TestIntegrationInputsDifferingInEventTypes(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSim(t, seed)
	sim.EmitEnterprise(50)
	dir := t.TempDir()
	statefile := filepath.Join(dir, "agent.state")
	logPath := filepath.Join(dir, "telegrafrun.log")
	logTailOnFailure(t, logPath)
	streams := []streamConfig{
		{simURL: sim.URL(), stream: enterpriseStream, eventTypes: `["LOGIN"]`},
		{simURL: sim.URL(), stream: enterpriseStream, eventTypes: `["UPLOAD", "DOWNLOAD"]`},
	}
	argv := writeCompiledInConfig(t, dir, runner, statefile, streams, fileOutputTable(filepath.Join(dir, "out.lp")))
	proc := startProcess(t, "telegrafrun", logPath, argv...)
	time.Sleep(3 * time.Second)
	proc.stop(t)

	data, err := os.ReadFile(statefile)
	require.NoError(t, err)
	var states map[string][]byte
	require.NoError(t, json.Unmarshal(data, &states))
	require.Len(t, states, 2, "one saved state per input")
}

// An event that carries almost nothing (no event_id, no time, no details) became a
// metric without fields, which the shim refused to write: telegraf-box exited, was
// restarted at the same position and exited again, for ever. Now it is written (with
// an empty event_id) and the stream goes on.
func TestIntegrationNearlyEmptyEvents(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	seed, _ := testSeed(t)
	sim := startSim(t, seed)
	raws := []string{`{}`, `{"type":"event"}`, `{"event_type":null,"created_by":7,"source":[]}`}
	for range 3 {
		sim.EmitUser(5)
		sim.EmitEnterprise(5)
		for _, raw := range raws {
			for _, s := range []boxsim.Stream{boxsim.StreamAll, boxsim.StreamAdminLogsStreaming} {
				_, err := sim.AddRawEvent(s, json.RawMessage(raw))
				require.NoError(t, err)
			}
		}
	}
	sim.EmitUser(5)
	sim.EmitEnterprise(5)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	streams := deliveryStreams(sim.URL(), dir, commitDelay)
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, streams, fileOutputTable(outPath))
	killLeftoverChildren(t, setup.confPaths()...)
	proc := startProcess(t, "telegraf", logPath, setup.argv...)

	produced := producedIDs(sim)
	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	waitFor(t, time.Minute, "every event after the empty ones in the file output", allPresent(produced, fileCounts))
	proc.stop(t)

	out := readFileOutput(t, outPath)
	for _, s := range bothStreams {
		requireExactlyOnce(t, "file output", s, produced[s], out.counts[s])
	}
	require.Len(t, out.badLines, 2*3*len(raws), "each nearly empty event is one line, with an empty event_id")
	for _, line := range out.badLines {
		require.Contains(t, line, `event_id=""`)
	}
	for _, line := range readLog(t, logPath) {
		require.NotContains(t, line, "Restarting in", "telegraf-box must not exit: %s", line)
	}
	requireNoCrash(t, logPath)
}
