package plugin_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// process is a child process (Telegraf or telegrafrun) whose stdout and stderr are
// appended to a log file, so that every run of a restarted process ends up in one log.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and was reaped
	err  error         // Wait's result, valid after done
}

// startProcess starts argv in its own process group. The group matters for cleanup:
// execd children inherit it, so killing the group also ends a telegraf-box that
// outlived a killed Telegraf.
func startProcess(t *testing.T, name, logPath string, argv ...string) *process {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer logFile.Close() // the child has its own descriptor
	fmt.Fprintf(logFile, "=== %s: test starts %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	return startCmd(t, name, cmd)
}

// startCmd starts cmd, whose input and output the caller set up, in its own process group
// (see startProcess), reaps it when it exits, and kills the group when the test ends.
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	ownGroup(t, cmd)
	require.NoError(t, cmd.Start(), "starting %s", name)
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.killGroup(t) })
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 ends the process with SIGKILL (a crash: nothing is flushed or saved) and reaps it.
func (p *process) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s (pid %d) still runs 30s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// stopTimeout bounds a clean stop: Telegraf gives an execd child 5s after closing its
// stdin, then 5s after SIGTERM, and flushes its outputs.
const stopTimeout = 30 * time.Second

// stop ends the process cleanly with SIGTERM and requires a zero exit status: a clean
// stop is when Telegraf flushes its outputs and writes its statefile.
func (p *process) stop(t *testing.T) {
	t.Helper()
	require.False(t, p.exited(), "%s exited before the test stopped it: %v", p.name, p.err)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitClean(t, "SIGTERM")
}

// waitClean waits up to stopTimeout for the process to exit after what the test did to
// end it (why), and requires a zero exit status.
func (p *process) waitClean(t *testing.T, why string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.killGroup(t)
		t.Fatalf("%s did not stop within %s of %s", p.name, stopTimeout, why)
	}
	require.NoError(t, p.err, "%s exit status after %s", p.name, why)
}

// killGroup kills the whole process group (the process and any execd children left
// behind) and reaps the process. It is the cleanup of every started process.
func (p *process) killGroup(t *testing.T) {
	t.Helper()
	killPID(t, -p.cmd.Process.Pid)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
}

// killChild kills the telegraf-box started with confPath with SIGKILL, waiting for
// Telegraf to have (re)started it first. It returns the killed pid.
func killChild(t *testing.T, confPath string) int {
	t.Helper()
	var pids []int
	waitFor(t, 30*time.Second, "telegraf-box for "+filepath.Base(confPath)+" running", func() (bool, string) {
		pids = pidsWithArg(confPath)
		return len(pids) > 0, "no such process"
	})
	for _, pid := range pids {
		killPID(t, pid)
	}
	return pids[0]
}

// waitChildrenGone waits for the telegraf-box processes of confPaths to exit after
// their Telegraf died (stdin EOF ends the shim). One that does not is reported and
// killed, so that two instances never share a state_file.
func waitChildrenGone(t *testing.T, timeout time.Duration, confPaths ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, conf := range confPaths {
		for len(pidsWithArg(conf)) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if left := pidsWithArg(conf); len(left) > 0 {
			t.Errorf("telegraf-box %v (%s) still runs %s after its Telegraf was killed: it must exit on stdin EOF",
				left, filepath.Base(conf), timeout)
			for _, pid := range left {
				killPID(t, pid)
			}
		}
	}
}

// killLeftoverChildren is a cleanup: no telegraf-box of this test may outlive it.
func killLeftoverChildren(t *testing.T, confPaths ...string) {
	t.Cleanup(func() {
		for _, conf := range confPaths {
			for _, pid := range pidsWithArg(conf) {
				killPID(t, pid)
			}
		}
	})
}

// waitFor polls cond until it holds, and fails the test with cond's last status when
// timeout passes first.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if ok, status := poll(timeout, cond); !ok {
		t.Fatalf("%s: not reached within %s: %s", what, timeout, status)
	}
}

// poll calls cond every 250ms until it holds or timeout passes, and returns its last
// result. Timeouts only bound the tests; nothing asserts on how fast something happened.
func poll(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok || time.Now().After(deadline) {
			return ok, status
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sleepBetween sleeps a random duration in [lo, hi): the "random moment" of a kill.
func sleepBetween(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(rng.Int64N(int64(hi-lo)))
	time.Sleep(d)
	return d
}
