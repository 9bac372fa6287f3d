package plugin_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/plugins/parsers/influx"
)

// demoRun is `telegraf-box -demo` (the README's first command) running as a child
// process: its stdout lines as they come, and its stderr in a file.
type demoRun struct {
	*process
	lines      chan string // stdout's lines, closed at its end (dropped once 1024 wait unread)
	stderrPath string
}

// startDemo starts bin -demo with args. A nil stdin is the null device, as for a demo
// started by nohup, a service manager or `docker run` without -i.
func startDemo(t *testing.T, bin string, stdin io.Reader, args ...string) *demoRun {
	t.Helper()
	d := &demoRun{lines: make(chan string, 1024), stderrPath: filepath.Join(t.TempDir(), "stderr.log")}
	stderr, err := os.Create(d.stderrPath)
	require.NoError(t, err)
	defer stderr.Close() // the child has its own descriptor
	// An os.Pipe rather than StdoutPipe: Wait may then run while stdout is still read.
	stdout, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"-demo"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, w, stderr
	d.process = startCmd(t, "telegraf-box -demo", cmd)
	w.Close()
	go func() {
		defer stdout.Close()
		defer close(d.lines)
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for scanner.Scan() {
			select {
			case d.lines <- scanner.Text():
			default: // the test has what it wanted; never block the demo's writes
			}
		}
	}()
	return d
}

// stderr returns what the demo wrote to stderr so far.
func (d *demoRun) stderr(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(d.stderrPath)
	require.NoError(t, err)
	return string(data)
}

// events reads stdout until n box_events lines of streamType arrived, each parsed with
// Telegraf's influx parser and carrying the event_type tag and an event_id field. It
// fails if stdout ends first or n lines take longer than timeout.
func (d *demoRun) events(t *testing.T, n int, streamType string, timeout time.Duration) {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	deadline := time.After(timeout)
	got := 0
	for got < n {
		select {
		case line, ok := <-d.lines:
			if !ok {
				<-d.done
				t.Fatalf("the demo ended after %d of %d events (exit: %v); stderr:\n%s", got, n, d.err, d.stderr(t))
			}
			m, err := parser.ParseLine(line)
			require.NoError(t, err, "a demo line is not line protocol: %q", line)
			if m.Name() != "box_events" {
				continue // the plugin's self-metrics
			}
			require.Equal(t, streamType, m.Tags()["stream_type"], line)
			require.NotEmpty(t, m.Tags()["event_type"], line)
			require.Contains(t, m.Fields(), "event_id", line)
			got++
		case <-deadline:
			t.Fatalf("%d of %d demo events within %s; stderr:\n%s", got, n, timeout, d.stderr(t))
		}
	}
}

// TestIntegrationDemo runs the README's `telegraf-box -demo` the ways people start it:
// from a terminal (stdin open, Ctrl-D ends it), detached with stdin on the null device
// (it must keep streaming until a signal, not end before its first event), and on the
// enterprise stream.
func TestIntegrationDemo(t *testing.T) {
	requireIntegration(t)
	bin := executableFromEnv(t, "TELEGRAF_BOX_BIN")
	requireVersion(t, bin, "-version", "telegraf-box")
	t.Parallel()

	t.Run("stdin is the null device", func(t *testing.T) {
		t.Parallel()
		d := startDemo(t, bin, nil)
		// 25 events of history, then live ones (one every 0.7 s on average).
		d.events(t, 30, "all", 60*time.Second)
		d.stop(t)
		require.Contains(t, d.stderr(t), "SIGTERM to stop", "the demo says how to stop it")
	})

	t.Run("stdin ends", func(t *testing.T) {
		t.Parallel()
		r, w := io.Pipe()
		d := startDemo(t, bin, r)
		d.events(t, 5, "all", 60*time.Second)
		require.NoError(t, w.Close()) // Ctrl-D
		d.waitClean(t, "the end of stdin")
		require.Contains(t, d.stderr(t), "Ctrl-D to stop")
	})

	t.Run("enterprise stream", func(t *testing.T) {
		t.Parallel()
		d := startDemo(t, bin, nil, "-demo_stream", "admin_logs_streaming")
		d.events(t, 5, "admin_logs_streaming", 60*time.Second)
		d.stop(t)
	})
}
