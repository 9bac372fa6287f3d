package plugin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
)

// telegrafModule is the Telegraf release the README's compile-in steps name.
const telegrafModule = "github.com/influxdata/telegraf@v1.37.2"

// TestIntegrationCompileInReadmeSteps runs the shell block of the README's "Compile it
// into Telegraf" section as written, in a copy of Telegraf v1.37.2's source (from the
// Go module cache: there is no GitHub here, so the clone is the one step left out),
// with /path/to/telegraf-box standing for this checkout. The Telegraf it builds must
// list inputs.box_events and deliver every event of the simulated Box's user and
// enterprise streams to its file output, and its [[inputs.internal]] must report the
// plugin's self-metrics (measurement internal_box_events), one series per input. Then
// it must resume across SIGHUP reloads (requireReloadResumes).
func TestIntegrationCompileInReadmeSteps(t *testing.T) {
	requireIntegration(t)
	script := readmeCompileInBlock(t)
	repo, err := filepath.Abs("..")
	require.NoError(t, err)

	work := t.TempDir()
	src := filepath.Join(work, "telegraf")
	copyTree(t, telegrafSourceDir(t), src)

	// The block starts with `cd telegraf` from the directory of the clone.
	script = strings.ReplaceAll(script, "/path/to/telegraf-box", repo)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's compile-in steps failed:\n%s", out)
	require.Contains(t, string(out), "inputs.box_events", "the README's last step lists the plugin")
	telegrafBin := filepath.Join(src, "telegraf")
	version, err := exec.Command(telegrafBin, "--version").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(version), "Telegraf 1.37.2"), "version: %s", version)

	// The binary runs the plugin: every event of both streams reaches the file output.
	seed, _ := testSeed(t)
	sim := startSim(t, seed)
	sim.EmitUser(120)
	sim.EmitEnterprise(120)
	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	streams := plainStreams(sim.URL())
	parts := []string{agentTable(filepath.Join(dir, "agent.state"))}
	for _, s := range streams {
		parts = append(parts, boxEventsTable(s))
	}
	parts = append(parts, "[[inputs.internal]]\n  interval = \"2s\"\n", fileOutputTable(outPath))
	conf := writeFile(t, dir, "telegraf.conf", parts...)
	proc := startProcess(t, "telegraf (compiled in from the README)", logPath, telegrafBin, "--config", conf)
	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	produced := producedIDs(sim)
	waitFor(t, time.Minute, "every produced event in the file output", allPresent(produced, fileCounts))
	waitFor(t, time.Minute, "inputs.internal reports events_emitted of every event", func() (bool, string) {
		return selfMetricsCaughtUp(readFileOutput(t, outPath).selfMetrics, produced)
	})
	proc.stop(t)
	requireNoCrash(t, logPath)

	// SIGHUP reloads Telegraf in the same process (cmd/telegraf's reloadLoop), which
	// telegrafrun does not do.
	requireReloadResumes(t, telegrafBin)
}

// readmeCompileInBlock returns the shell block of the README's "Compile it into
// Telegraf" section.
func readmeCompileInBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Compile it into Telegraf\n")
	require.True(t, ok, "README.md has no section \"Compile it into Telegraf\"")
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```sh\n")
	require.True(t, ok, "the section has no ```sh block")
	block, _, ok = strings.Cut(block, "\n```\n")
	require.True(t, ok, "the section's ```sh block does not end")
	require.True(t, strings.HasPrefix(block, "cd telegraf\n"), "the block starts in the clone: %q", block)
	return block
}

// telegrafSourceDir returns Telegraf's source directory in the Go module cache,
// downloading it if needed (through the Go module proxy).
func telegrafSourceDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", telegrafModule).Output()
	require.NoError(t, err, "go mod download %s", telegrafModule)
	var mod struct{ Dir, Error string }
	require.NoError(t, json.NewDecoder(bytes.NewReader(out)).Decode(&mod))
	require.Empty(t, mod.Error)
	require.DirExists(t, mod.Dir)
	return mod.Dir
}

// copyTree copies the directory tree src to dst. Files come out writable (os.CopyFS
// creates them 0666 before umask), though the module cache's are read-only.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

// selfMetricsCaughtUp reports whether the last internal_box_events of each stream
// has every documented field and counts every produced event as emitted.
func selfMetricsCaughtUp(metrics []telegraf.Metric, produced map[string][]string) (bool, string) {
	last := make(map[string]telegraf.Metric, len(bothStreams))
	for _, m := range metrics {
		last[m.Tags()["stream_type"]] = m
	}
	for _, stream := range bothStreams {
		m, ok := last[stream]
		if !ok {
			return false, "no internal_box_events of " + stream
		}
		if m.Tags()["id"] == "" {
			return false, fmt.Sprintf("internal_box_events of %s has no id tag: %v", stream, m.Tags())
		}
		for _, f := range selfMetricFields {
			if !m.HasField(f) {
				return false, fmt.Sprintf("internal_box_events of %s has no field %s", stream, f)
			}
		}
		if n, _ := m.GetField("events_emitted"); n != int64(len(produced[stream])) {
			return false, fmt.Sprintf("%s: events_emitted %v of %d events", stream, n, len(produced[stream]))
		}
	}
	return true, ""
}

// requireReloadResumes runs telegrafBin (Telegraf with box_events compiled in) on both
// streams with the agent's statefile only and sends it SIGHUP three times, once while
// nothing is pending and twice while events are being produced: a reload stops the
// inputs, flushes the outputs, stores the state and starts new plugin instances in the
// same process, which restore it. The file output must hold every event exactly once
// and the log no error.
func requireReloadResumes(t *testing.T, telegrafBin string) {
	t.Helper()
	seed, _ := testSeed(t)
	sim := startSim(t, seed)
	sim.EmitUser(100)
	sim.EmitEnterprise(100)
	dir := t.TempDir()
	outPath, logPath := filepath.Join(dir, "out.lp"), filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	parts := []string{agentTable(filepath.Join(dir, "agent.state"))}
	for _, s := range plainStreams(sim.URL()) {
		parts = append(parts, boxEventsTable(s))
	}
	parts = append(parts, fileOutputTable(outPath))
	conf := writeFile(t, dir, "telegraf.conf", parts...)
	proc := startProcess(t, "telegraf (reloads)", logPath, telegrafBin, "--config", conf)
	fileCounts := func() (idCounts, error) { return readFileOutput(t, outPath).counts, nil }
	waitFor(t, time.Minute, "every produced event in the file output", allPresent(producedIDs(sim), fileCounts))

	prod := startProducing(t, sim, seed)
	for i := range 3 {
		if i == 0 {
			prod.stop() // nothing pending at the first reload
		}
		require.NoError(t, proc.cmd.Process.Signal(syscall.SIGHUP))
		t.Logf("SIGHUP #%d", i+1)
		if i == 0 {
			prod = startProducing(t, sim, seed+1)
		}
		time.Sleep(3 * time.Second)
	}
	prod.stop()
	produced := producedIDs(sim)
	waitFor(t, time.Minute, "every produced event in the file output after the reloads", allPresent(produced, fileCounts))
	proc.stop(t)

	out := readFileOutput(t, outPath)
	require.Empty(t, out.badLines)
	for _, s := range bothStreams {
		requireExactlyOnce(t, "file output across SIGHUP reloads", s, produced[s], out.counts[s])
	}
	require.Equal(t, 4, strings.Count(strings.Join(readLog(t, logPath), "\n"), "Loading config: "), "three reloads")
	require.Empty(t, unexpectedErrors(t, logPath), "no errors")
	requireNoCrash(t, logPath)
}
