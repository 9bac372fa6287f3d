package plugin_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationExecdSignalSIGHUP: inputs.execd's signal option sends the child a
// signal each interval to ask for a Gather; SIGHUP is one of its choices (Telegraf's
// own Go example expects it). telegraf-box stopped on it, Telegraf restarted it every
// interval, no page ever aged past commit_delay, so nothing was committed and every
// run wrote the same events again (45,000 lines for 3,000 events in 30 s). With
// signal = "SIGHUP" the stream must be read once and its position committed.
func TestIntegrationExecdSignalSIGHUP(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})
	sim.EmitEnterprise(3000)
	dir := t.TempDir()
	outPath, logPath, statePath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log"), filepath.Join(dir, "box.state")
	logTailOnFailure(t, logPath)
	stream := streamConfig{simURL: sim.URL(), stream: enterpriseStream, stateFile: statePath, commitDelay: "3s", pageSize: 100}
	conf := writeFile(t, dir, "plugin.conf", boxEventsTable(stream))
	table := strings.Replace(execdTable(telegrafBox, conf, false), `signal = "none"`, `signal = "SIGHUP"`, 1)
	agent := strings.Replace(agentTable(""), `interval = "10s"`, `interval = "1s"`, 1)
	proc := startProcess(t, "telegraf", logPath, telegraf, "--config", writeFile(t, dir, "telegraf.conf", agent, table, fileOutputTable(outPath)))
	killLeftoverChildren(t, conf)

	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	waitFor(t, time.Minute, "every event in the file output", allPresent(producedIDs(sim), fileCounts))
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	waitFor(t, time.Minute, "the position committed in state_file", func() (bool, string) {
		data, err := os.ReadFile(statePath)
		return err == nil && strings.Contains(string(data), `"stream_position":"`), fmt.Sprintf("state_file: %s (%v)", data, err)
	})
	time.Sleep(5 * time.Second) // five more SIGHUPs
	proc.stop(t)

	out := readFileOutput(t, outPath)
	requireExactlyOnce(t, "file output with signal = SIGHUP", enterpriseStream, producedIDs(sim)[enterpriseStream], out.counts[enterpriseStream])
	// Telegraf's first Gather, and so its first SIGHUP, comes milliseconds after it
	// started the process, before Go's runtime let main catch the signal: that
	// first process may die of it, before it read anything. Not the next one.
	starts := 0
	for _, line := range readLog(t, logPath) {
		if strings.Contains(line, "[inputs.execd] Starting process") {
			starts++
		}
	}
	require.LessOrEqual(t, starts, 2, "telegraf-box must keep running (head %s)", head)
	requireNoCrash(t, logPath)
}
