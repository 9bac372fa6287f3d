//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is Linux's USER_HZ: the unit of utime and stime in /proc/<pid>/stat.
const userHZ = 100

// usage is what /proc tells about a live process.
type usage struct {
	cpu       time.Duration // utime + stime
	peakRSSKB int64         // VmHWM
}

// procUsage reads a live process's CPU time (user + system, in 10 ms ticks) from
// /proc/<pid>/stat and its peak resident set (VmHWM) from /proc/<pid>/status.
func procUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return usage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	rss, err := parseStatusHWM(status)
	if err != nil {
		return usage{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return usage{cpu: cpu, peakRSSKB: rss}, nil
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from its last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return 0, fmt.Errorf("unexpected format %q", stat)
	}
	// After ')': field 3 (state) is index 0, so utime (field 14) is 11, stime (15) is 12.
	fields := strings.Fields(string(stat[i+2:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command", len(fields))
	}
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// parseStatusHWM returns VmHWM in KiB from /proc/<pid>/status.
func parseStatusHWM(status []byte) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("no VmHWM line (a zombie or kernel thread?)")
}

// selfCPU is the CPU time this process (the simulator and the readers) used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
