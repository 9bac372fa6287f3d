package plugin_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashPattern matches what a Go panic, a fatal runtime error or a data race writes.
var crashPattern = regexp.MustCompile(`^(panic: |fatal error: |goroutine \d+ \[|WARNING: DATA RACE)`)

// readLog returns the lines of a process log.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// requireNoCrash fails on any sign of a panic in Telegraf or in telegraf-box (whose
// stderr Telegraf logs line by line).
func requireNoCrash(t *testing.T, path string) {
	t.Helper()
	for _, line := range readLog(t, path) {
		msg := line
		if i := strings.Index(line, "[inputs.execd] "); i >= 0 {
			msg = strings.Trim(strings.TrimPrefix(line[i+len("[inputs.execd] "):], "stderr: "), `"`)
		}
		require.False(t, crashPattern.MatchString(msg) || strings.Contains(line, "panic:"), "crash in %s: %s", path, line)
	}
}

// requireLevelledChildLogs fails when Telegraf logged a telegraf-box stderr line it
// could not map to a level: inputs.execd logs those as `E! [inputs.execd] stderr: "…"`,
// so an unlevelled line is a false error report for the user.
func requireLevelledChildLogs(t *testing.T, path string) {
	t.Helper()
	for _, line := range readLog(t, path) {
		require.NotContains(t, line, "[inputs.execd] stderr:", "telegraf-box wrote a line without a level in %s", path)
	}
}

// unexpectedErrors returns the E! lines of a Telegraf log that match none of allowed.
func unexpectedErrors(t *testing.T, path string, allowed ...*regexp.Regexp) []string {
	t.Helper()
	var out []string
	for _, line := range readLog(t, path) {
		if !strings.Contains(line, " E! ") && !strings.HasPrefix(line, "E! ") {
			continue
		}
		ok := false
		for _, re := range allowed {
			ok = ok || re.MatchString(line)
		}
		if !ok {
			out = append(out, line)
		}
	}
	return out
}

// logTailOnFailure prints the end of each log when the test failed: the processes'
// view is usually what explains it.
func logTailOnFailure(t *testing.T, paths ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			t.Logf("last lines of %s:\n%s", path, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
}
