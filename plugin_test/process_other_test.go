//go:build !linux

package plugin_test

import (
	"os/exec"
	"testing"
)

// The end-to-end harness finds and kills telegraf-box children through Linux's /proc and
// process groups (process_linux_test.go): elsewhere a test that starts a process skips.

func ownGroup(t *testing.T, _ *exec.Cmd) {
	t.Helper()
	t.Skip("the end-to-end tests start processes the Linux way (process groups, /proc): Linux only")
}

func pidsWithArg(string) []int { return nil }

func killPID(t *testing.T, pid int) {
	t.Helper()
	t.Errorf("kill -9 %d: Linux only", pid)
}
