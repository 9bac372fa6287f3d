//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"
)

// childEnv makes the test binary, re-executed as a child, run a runner with
// the process's real signals and stdout: "closed-stdout" on a stdout the
// parent closed, "sigterm-in-start" with a SIGTERM sent while the input
// starts, "sighup-gathers" with SIGHUPs sent while it starts and runs.
const childEnv = "TELEGRAF_BOX_TEST_CHILD"

// TestMain lets the test binary serve as the child of the tests below.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "closed-stdout":
		os.Exit(runOnClosedStdout())
	case "sigterm-in-start":
		os.Exit(runSignalledInStart(syscall.SIGTERM))
	case "sighup-gathers":
		os.Exit(runGatheredBySIGHUP())
	}
	os.Exit(m.Run())
}

// runSignalledInStart is the child: sig arrives while the input starts (an
// instant after the process did: a service manager or Telegraf stopping it at
// once). It exits 0 once the runner stopped the input and returned.
func runSignalledInStart(sig syscall.Signal) int {
	in := newService()
	in.onStart = func() {
		syscall.Kill(os.Getpid(), sig)     //nolint:errcheck // the child signals itself
		time.Sleep(100 * time.Millisecond) // the signal is delivered meanwhile
	}
	if err := <-runWithSignals(in); err != nil {
		return 2
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.stopped {
		return 3
	}
	return 0
}

// runWithSignals runs in as main does (the process's stdin and stdout, signals handled, the
// SIGHUPs caught from now on) and delivers the runner's result.
func runWithSignals(in *service) <-chan error {
	r := newRunner(in, os.Stdin, os.Stdout, testutil.Logger{})
	r.signals = true
	r.hangups = catchHangups()
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	return done
}

// runOnClosedStdout is the child: a page written to a stdout nobody reads any
// more. It exits 0 once the runner stopped the input and returned the write's
// error.
func runOnClosedStdout() int {
	in := newService()
	done := runWithSignals(in)
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
	cmd.Env = append(os.Environ(), childEnv+"=closed-stdout")
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

// A SIGTERM that arrives while the input starts (the input may already emit
// then) stops the runner as any other: the input's Stop runs (it saves
// state_file) and the process exits 0, instead of dying of the signal.
func TestRunner_SignalDuringStartStopsCleanly(t *testing.T) {
	runChild(t, "sigterm-in-start")
}

// runChild runs the test binary as the child named child, with stdin kept open
// (only signals may stop it), and requires it to exit 0. The child starts with
// SIGHUP at its default, as under Telegraf, whose agent handles SIGHUP: a signal
// a process handles is reset to its default in its children, one it ignores is
// inherited. A test run under nohup (or any parent that ignores SIGHUP) handed
// its ignored SIGHUP on, the runner rightly left it ignored, and a child waiting
// for a SIGHUP waited for ever.
func runChild(t *testing.T, child string) {
	t.Helper()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// A failsafe: a child that does not stop fails this test, not the package's run.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+child)
	stdin, err := cmd.StdinPipe() // kept open: only the signals may stop the child
	require.NoError(t, err)
	defer stdin.Close()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
}

// runGatheredBySIGHUP is the child: a SIGHUP while the input starts and
// another while it runs, as inputs.execd's signal = "SIGHUP" sends one each
// interval, then a SIGTERM. It exits 0 once the SIGHUPs were Gathers, not a
// stop, and the SIGTERM stopped the input and returned.
func runGatheredBySIGHUP() int {
	in := newService()
	gathered := make(chan struct{}, 2)
	in.onGather = func() { gathered <- struct{}{} }
	in.onStart = func() {
		syscall.Kill(os.Getpid(), syscall.SIGHUP) //nolint:errcheck // the child signals itself
		time.Sleep(100 * time.Millisecond)        // the signal is delivered meanwhile
	}
	done := runWithSignals(in)
	for i := range 2 {
		select {
		case <-gathered:
		case <-done:
			return 4 // stopped by the SIGHUP
		case <-time.After(10 * time.Second):
			return 5
		}
		if i == 0 {
			syscall.Kill(os.Getpid(), syscall.SIGHUP) //nolint:errcheck // the child signals itself
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM) //nolint:errcheck // the child signals itself
	if err := <-done; err != nil {
		return 2
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.stopped {
		return 3
	}
	return 0
}

// inputs.execd's signal = "SIGHUP" sends one each interval to ask for a
// Gather. telegraf-box stopped on it (and before that died of it): Telegraf
// restarted it every interval, before any page aged past commit_delay, so no
// position was ever committed and every run wrote the same events again
// (45,000 lines for 3,000 events in 30 s). A SIGHUP is now a Gather, as a line
// on stdin is; stdin's end (a closed terminal, Telegraf stopping or reloading)
// still stops it cleanly.
func TestRunner_SIGHUPIsAGather(t *testing.T) {
	runChild(t, "sighup-gathers")
}
