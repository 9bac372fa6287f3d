package plugin_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestBenchmarkExecdBufferStrategies measures what Telegraf's disk-backed output
// buffer (the documented execd setting) costs against its memory buffer: a real
// Telegraf runs telegraf-box through inputs.execd over a backlog of
// admin_logs_streaming events into an outputs.file writing to /dev/null (so the
// output is never the bottleneck), with each strategy in turn, alternating, several
// rounds. It reports events per second (until the whole backlog is committed) and
// Telegraf's CPU time and peak RSS per strategy. It is a measurement, not a test:
// it runs only with BOX_BENCH=1 and asserts nothing about time.
//
//	BOX_BENCH=1 BOX_BENCH_EVENTS=100000 go test -run TestBenchmarkExecdBufferStrategies -v ./plugin_test/
func TestBenchmarkExecdBufferStrategies(t *testing.T) {
	if os.Getenv("BOX_BENCH") != "1" {
		t.Skip("a benchmark: set BOX_BENCH=1 to run it")
	}
	telegraf, telegrafBox := execdBinaries(t)
	events := 50000
	if s := os.Getenv("BOX_BENCH_EVENTS"); s != "" {
		var err error
		events, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	type result struct {
		wall            time.Duration
		cpu, boxCPU     time.Duration
		rssKiB, boxRSS  int
		eventsPerSecond float64
	}
	results := make(map[string][]result)
	for round := range 3 {
		for _, strategy := range []string{"memory", "disk"} {
			sim := boxsim.New(boxsim.Options{Seed: uint64(round + 1), MaxEvents: events + 1})
			_, err := sim.Start("127.0.0.1:0")
			require.NoError(t, err)
			sim.EmitEnterprise(events)
			head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)

			dir := t.TempDir()
			agent := agentConfig{bufferLimit: 2 * events, telegraf: telegraf, telegrafBox: telegrafBox}
			if strategy == "disk" {
				agent.diskBuffer = filepath.Join(dir, "buffer")
			}
			state := filepath.Join(dir, "box.state")
			setup := writeExecdConfigWith(t, dir, agent, []streamConfig{{
				simURL: sim.URL(), stream: enterpriseStream, stateFile: state, pageSize: 500, commitDelay: "1s",
			}}, fileOutputTable("/dev/null"))
			killLeftoverChildren(t, setup.confPaths()...)

			start := time.Now()
			proc := startProcess(t, "telegraf", filepath.Join(dir, "telegraf.log"), setup.argv...)
			waitFor(t, 10*time.Minute, "the backlog committed", func() (bool, string) {
				data, err := os.ReadFile(state)
				return err == nil && bytes.Contains(data, []byte(`"stream_position":"`+head+`"`)), "not yet"
			})
			wall := time.Since(start)
			boxPIDs := pidsWithArg(setup.confPaths()[0])
			require.NotEmpty(t, boxPIDs)
			r := result{wall: wall, eventsPerSecond: float64(events) / wall.Seconds()}
			r.cpu, r.rssKiB = processUsage(t, proc.cmd.Process.Pid)
			r.boxCPU, r.boxRSS = processUsage(t, boxPIDs[0])
			proc.stop(t)
			sim.Close()
			results[strategy] = append(results[strategy], r)
			t.Logf("round %d, %s buffer: %d events in %s (%.0f events/s); Telegraf CPU %s, peak RSS %d MiB; telegraf-box CPU %s",
				round+1, strategy, events, wall.Round(time.Millisecond), r.eventsPerSecond, r.cpu, r.rssKiB>>10, r.boxCPU)
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "| buffer | events/s (median) | Telegraf CPU µs/event (median) | Telegraf peak RSS MiB (max) |\n|---|---|---|---|\n")
	medians := make(map[string][2]float64)
	for _, strategy := range []string{"memory", "disk"} {
		rs := results[strategy]
		rates := make([]float64, 0, len(rs))
		cpus := make([]float64, 0, len(rs))
		rss := 0
		for _, r := range rs {
			rates = append(rates, r.eventsPerSecond)
			cpus = append(cpus, float64(r.cpu.Microseconds())/float64(events))
			rss = max(rss, r.rssKiB>>10)
		}
		medians[strategy] = [2]float64{median(rates), median(cpus)}
		fmt.Fprintf(&report, "| %s | %.0f | %.1f | %d |\n", strategy, median(rates), median(cpus), rss)
	}
	fmt.Fprintf(&report, "disk/memory: throughput ×%.2f, Telegraf CPU per event ×%.2f\n",
		medians["disk"][0]/medians["memory"][0], medians["disk"][1]/medians["memory"][1])
	t.Log("\n" + report.String())
}

// processUsage reads a live process's CPU time (user + system) and peak RSS.
func processUsage(t *testing.T, pid int) (time.Duration, int) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(t, err)
	const ticks = 100 // USER_HZ on Linux
	cpu := time.Duration(utime+stime) * time.Second / ticks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	rss := 0
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			rss, err = strconv.Atoi(strings.Fields(line)[1])
			require.NoError(t, err)
		}
	}
	return cpu, rss
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
