package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
)

// closedStdoutEnv makes the test binary, re-executed as a child, run a runner
// on its real stdout, which the parent closed.
const closedStdoutEnv = "TELEGRAF_BOX_TEST_CLOSED_STDOUT"

// TestMain lets the test binary serve as the child of TestRunner_StdoutClosedStopsCleanly.
func TestMain(m *testing.M) {
	if os.Getenv(closedStdoutEnv) != "" {
		os.Exit(runOnClosedStdout())
	}
	os.Exit(m.Run())
}

// runOnClosedStdout is the child: a page written to a stdout nobody reads any
// more. It exits 0 once the runner stopped the input and returned the write's
// error.
func runOnClosedStdout() int {
	in := newService()
	r := newRunner(in, os.Stdin, os.Stdout, testutil.Logger{})
	r.signals = true
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	<-in.started
	in.acc.AddTrackingMetricGroup([]telegraf.Metric{
		metric.New("box_events", nil, map[string]interface{}{"event_id": "1"}, time.Unix(1, 0)),
	})
	if err := <-done; err == nil {
		return 2
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.stopped {
		return 3
	}
	return 0
}

// When Telegraf dies, the pipe it read telegraf-box's stdout from is closed.
// The next write must fail and stop the runner as designed (rejecting what was
// not written, running the input's Stop, which saves state_file and waits for
// a refresh token in flight), not kill the process with SIGPIPE, which Go
// raises for a write to a closed stdout unless the program handles it.
func TestRunner_StdoutClosedStopsCleanly(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), closedStdoutEnv+"=1")
	stdin, err := cmd.StdinPipe() // kept open: only the write may stop the child
	require.NoError(t, err)
	defer stdin.Close()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close()) // nobody reads stdout
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "Writing to stdout failed, stopping")
}
