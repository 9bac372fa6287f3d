//go:build linux

package plugin_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// The process helpers that need Linux: process groups, /proc, kill(2). The end-to-end
// harness (scripts/test.sh builds Telegraf, scripts/influxdb.sh runs InfluxDB) runs on
// Linux; elsewhere its tests skip (process_other_test.go).

// ownGroup makes cmd start in its own process group (see startProcess).
func ownGroup(_ *testing.T, cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// pidsWithArg lists the live (not zombie) processes that have arg as one of their
// command-line arguments. Each test passes a config path inside its own t.TempDir(),
// so this finds exactly that test's telegraf-box children, whatever Telegraf
// restarted them as.
func pidsWithArg(arg string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	pids := make([]int, 0, 2)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !hasArg(cmdline, arg) || zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func hasArg(cmdline []byte, arg string) bool {
	for _, a := range bytes.Split(cmdline, []byte{0}) {
		if string(a) == arg {
			return true
		}
	}
	return false
}

// zombie reports whether pid has exited but was not reaped yet (after its Telegraf
// died, a telegraf-box is reparented to a pid 1 that may never reap it).
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// killPID sends SIGKILL to pid (a process group when negative). A process that is
// already gone is fine: it may have exited between the lookup and the kill.
func killPID(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill -9 %d: %v", pid, err)
	}
}
