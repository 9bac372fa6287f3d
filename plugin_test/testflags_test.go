package plugin_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationTestAndOnceFlags runs the compiled-in agent the way Telegraf's
// --test and --once run it (Agent.Test and Agent.Once): the plugin is a service
// input, so --test-wait gives it time. --test prints the events and rejects every
// metric (no outputs), so the plugin reads its first page again and again (with a
// backoff: it takes the rejection for a full buffer) and commits nothing: it must
// exit 0 and leave state_file so that what runs next still writes every event.
// --once writes to the outputs and stops; run twice, the file output must hold
// every event.
func TestIntegrationTestAndOnceFlags(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})
	sim.EmitEnterprise(120)

	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegrafrun.log")
	logTailOnFailure(t, logPath)
	stream := streamConfig{simURL: sim.URL(), stream: enterpriseStream, stateFile: filepath.Join(dir, "box.state")}
	argv := writeCompiledInConfigWith(t, dir, agentConfig{statefile: filepath.Join(dir, "agent.state")}, runner,
		[]streamConfig{stream}, fileOutputTable(outPath))

	oneShot := func(flags ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		require.NoError(t, err)
		defer logFile.Close()
		var stdout bytes.Buffer
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], flags...)...)
		cmd.Stdout, cmd.Stderr = &stdout, logFile
		require.NoError(t, cmd.Run(), "telegrafrun %s", strings.Join(flags, " "))
		return stdout.String()
	}

	// --test: every event printed, nothing committed, exit 0.
	printed := make(idCounts)
	for _, line := range strings.Split(oneShot("-test", "-test-wait", "5"), "\n") {
		if strings.HasPrefix(line, "> box_events,") {
			id := line[strings.Index(line, `event_id="`)+len(`event_id="`):]
			id = id[:strings.IndexByte(id, '"')]
			if printed[enterpriseStream] == nil {
				printed[enterpriseStream] = make(map[string]int)
			}
			printed[enterpriseStream][id]++
		}
	}
	require.NotEmpty(t, printed[enterpriseStream], "--test printed events")
	t.Logf("--test printed %d events", len(printed[enterpriseStream]))

	// --once, twice, with events produced in between: every event in the file output.
	oneShot("-once", "-test-wait", "5")
	sim.EmitEnterprise(30)
	oneShot("-once", "-test-wait", "5")
	produced := producedIDs(sim)
	out := readFileOutput(t, outPath)
	require.Empty(t, out.badLines)
	require.Empty(t, missingIDs(produced[enterpriseStream], out.counts[enterpriseStream]), "--once twice wrote every event")
	lines, extra := repeats(out.counts[enterpriseStream])
	t.Logf("--once twice: %d lines for %d events (%d written again)", lines, len(produced[enterpriseStream]), extra)
	requireNoCrash(t, logPath)
	require.Empty(t, unexpectedErrors(t, logPath), "no errors")
}
