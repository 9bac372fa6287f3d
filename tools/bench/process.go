//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long a peer may take to exit once asked to stop.
const stopTimeout = 20 * time.Second

// running is a started peer whose stdout a goroutine reads line by line.
type running struct {
	p       peerCmd
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	errPath string        // its stderr, kept in the run's directory
	eof     chan struct{} // closed when stdout reached EOF (the process exited or closed it)
	readErr error         // set before eof is closed
	waitErr error         // what Wait returned after kill
}

// startPeer starts p with stdin a pipe kept open, stderr into dir/stderr.log, and
// calls onLine for every stdout line (in one goroutine, with the time it was read).
// The line's bytes are only valid during the call.
func startPeer(p peerCmd, dir string, onLine func(line []byte, at time.Time)) (*running, error) {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = dir
	cmd.Env = p.env
	// A Ctrl-C reaches the peer too (it is in the harness's process group) and stops
	// it its own way; should the harness die, the kernel kills the peer.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errPath := filepath.Join(dir, "stderr.log")
	errFile, err := os.Create(errPath)
	if err != nil {
		return nil, err
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r := &running{p: p, cmd: cmd, stdin: stdin, errPath: errPath, eof: make(chan struct{})}
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	go func() {
		defer close(r.eof)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		for sc.Scan() {
			onLine(sc.Bytes(), time.Now())
		}
		r.readErr = sc.Err()
		// Keep the pipe drained should the scanner have stopped on an error, so that
		// the peer never blocks on a full pipe.
		if _, err := io.Copy(io.Discard, stdout); err != nil && r.readErr == nil {
			r.readErr = err
		}
	}()
	return r, nil
}

// pid is the peer's process id.
func (r *running) pid() int { return r.cmd.Process.Pid }

// stop asks the peer to stop its supervisor's way, waits for it (killing it after
// stopTimeout) and returns an error when it did not exit with status 0.
func (r *running) stop() error {
	if err := signalStop(r.cmd, r.stdin, r.p.stop); err != nil {
		r.kill()
		return fmt.Errorf("stopping %s: %w", r.p.name, err)
	}
	var killed bool
	select {
	case <-r.eof:
	case <-time.After(stopTimeout):
		killed = true
		r.kill()
	}
	if killed {
		return fmt.Errorf("%s did not stop within %s of being asked to; killed%s", r.p.name, stopTimeout, r.stderrTail())
	}
	err := r.cmd.Wait()
	switch {
	case err != nil:
		return fmt.Errorf("%s exited with an error: %w%s", r.p.name, err, r.stderrTail())
	case r.readErr != nil:
		return fmt.Errorf("reading %s's stdout: %w", r.p.name, r.readErr)
	}
	return nil
}

// kill ends the peer at once (after a failure) and reaps it. What Wait returns is
// kept in waitErr: a killed process has failed by design.
func (r *running) kill() {
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		progressf("killing %s (pid %d): %s", r.p.name, r.pid(), err)
	}
	<-r.eof
	r.waitErr = r.cmd.Wait()
}

// exited explains a peer that closed its stdout before it was done.
func (r *running) exited() error {
	err := r.cmd.Wait()
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited before delivering every event (%w)%s", r.p.name, err, r.stderrTail())
}

// stderrTail returns the last lines of the peer's stderr for an error message.
func (r *running) stderrTail() string {
	data, err := os.ReadFile(r.errPath)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "; its stderr ends with:\n  " + strings.Join(lines, "\n  ")
}
