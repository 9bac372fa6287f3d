//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

func TestEventID(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{`box_events,stream_type=all event_id="abc-1",user_id="2" 1700000000000000000`, "abc-1", true},
		{`box_events,stream_type=all additional_details="{\"event_id\":\"x\"}",event_id="e2" 1`, "e2", true},
		{`box_events,stream_type=all xevent_id="no",event_id="yes" 1`, "yes", true},
		{`box_events,stream_type=all event_id="" 1`, "", true},
		{`box_events,stream_type=all event_id="a\"b" 1`, `a\"b`, true},
		{`box_events,stream_type=all user_id="2" 1`, "", false},
		{`box_events event_id="unterminated`, "", false},
	} {
		got, ok := eventID([]byte(tc.line))
		require.Equal(t, tc.ok, ok, tc.line)
		require.Equal(t, tc.want, string(got), tc.line)
	}
}

func TestParseProc(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	stat := []byte("4242 (tele graf) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200")
	cpu, err := parseStatCPU(stat)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cpu)
	_, err = parseStatCPU([]byte("garbage"))
	require.Error(t, err)

	rss, err := parseStatusHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 100 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(51200), rss)
	_, err = parseStatusHWM([]byte("Name:\tzombie\nState:\tZ (zombie)\n"))
	require.Error(t, err)
}

func TestStats(t *testing.T) {
	require.Equal(t, summary{Median: 2, Min: 1, Max: 9, N: 3}, summarize([]float64{9, 1, 2}))
	require.Equal(t, summary{Median: 2.5, Min: 1, Max: 4, N: 4}, summarize([]float64{4, 1, 3, 2}))
	require.Equal(t, summary{}, summarize(nil))

	ds := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, percentile(ds, 50))
	require.Equal(t, 99*time.Millisecond, percentile(ds, 99))
	require.Equal(t, 100*time.Millisecond, percentile(ds, 100))
	require.Equal(t, time.Millisecond, percentile(ds, 0))
	require.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
}

func TestRatios(t *testing.T) {
	run := func(round int, peer string, rate, cpu float64) runResult {
		return runResult{Round: round, Peer: peer, EventsPerSec: rate, CPUPerMillion: cpu, PeakRSSMB: 10}
	}
	r := report{Runs: []runResult{
		// The machine is twice as fast in round 2: the medians' ratio mixes the rounds, the
		// rounds' ratios do not.
		run(1, peerTelegrafBox, 100, 10), run(1, peerNode, 25, 60),
		run(2, peerNode, 50, 30), run(2, peerTelegrafBox, 200, 5),
		run(3, peerTelegrafBox, 120, 9), run(3, peerNode, 20, 72),
		run(4, peerTelegrafBox, 130, 8), // no Node run in round 4: no pair
	}}
	r.summarize([]string{peerTelegrafBox, peerNode})
	require.Len(t, r.Ratios, 1)
	q := r.Ratios[0]
	require.Equal(t, peerTelegrafBox, q.Peer)
	require.InDelta(t, 125.0/25, q.Throughput, 1e-9) // medians 125 (4 runs) and 25
	require.InDelta(t, 60/8.5, q.CPUPer, 1e-9)
	require.Equal(t, summary{Median: 4, Min: 4, Max: 6, N: 3}, q.ThroughputRounds)
	require.Equal(t, summary{Median: 6, Min: 6, Max: 8, N: 3}, q.CPUPerRounds)
	require.Contains(t, r.markdown(), "| telegraf-box (execd binary) | ×5.00 | ÷7.06 | ÷1.00 | ×4.00 (4.00–6.00) | ÷6.00 (6.00–8.00) |")
}

func TestCleanEvent(t *testing.T) {
	odd := `{"event_id":"e1","created_by":{"type":"user","id":12345,"name":"A"},"additional_details":"legacy",` +
		`"source":{"type":"file","id":"9","shared_link":{"url":"u","access":"open"}}}`
	raw, changed, err := cleanEvent(json.RawMessage(odd))
	require.NoError(t, err)
	require.True(t, changed)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.Equal(t, "12345", ev["created_by"].(map[string]any)["id"])
	require.NotContains(t, ev, "additional_details")
	require.Equal(t, "can_download", ev["source"].(map[string]any)["shared_link"].(map[string]any)["effective_permission"])

	fine := `{"event_id":"e2","created_by":{"type":"user","id":"7"},"additional_details":{"size":12},"source":{"size":3}}`
	raw, changed, err = cleanEvent(json.RawMessage(fine))
	require.NoError(t, err)
	require.False(t, changed)
	require.JSONEq(t, fine, string(raw))

	require.True(t, hasNumericID([]byte(`{"x":{"id":"a"},"y":{"id":-3}}`)))
	require.False(t, hasNumericID([]byte(`{"x":{"id":"1"},"size":4,"item_id":"5"}`)))
}

func TestBoxEventsTable(t *testing.T) {
	table := boxEventsTable(pluginSettings{baseURL: "http://127.0.0.1:1", stream: boxsim.StreamAdminLogsStreaming,
		start: "0", stateFile: `/tmp/a "b"/box.state`, subjectType: "enterprise", subjectID: boxsim.DefaultEnterpriseID})
	for _, want := range []string{
		`[[inputs.box_events]]`, `stream_type = "admin_logs_streaming"`, `start_position = "0"`, `page_size = 500`,
		`commit_delay = "0s"`, `state_file = "/tmp/a \"b\"/box.state"`, `client_id = "` + boxsim.DefaultClientID + `"`,
		`subject_id = "` + boxsim.DefaultEnterpriseID + `"`,
	} {
		require.Contains(t, table, want)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-smoke", "-rounds", "2", "-skip-node", "no npm"})
	require.NoError(t, err)
	require.Equal(t, 5000, cfg.events)
	require.Equal(t, 2, cfg.rounds) // an explicit flag wins over -smoke
	require.Equal(t, 5, cfg.spacedEvents)
	require.Equal(t, 10, cfg.steadySeconds)
	require.Equal(t, []string{peerTelegrafBox, peerCompiledIn}, cfg.peers)
	require.True(t, strings.HasPrefix(cfg.telegrafBox, "/"))
	require.Equal(t, "pages", cfg.nodeModeFor(boxsim.StreamAdminLogsStreaming))
	require.Equal(t, "stream", cfg.nodeModeFor(boxsim.StreamAll))

	_, err = parseFlags([]string{"-peers", "telegraf-box,python"})
	require.ErrorContains(t, err, `unknown peer "python"`)
	_, err = parseFlags([]string{"-stream", "changes"})
	require.Error(t, err)
}

func TestThousands(t *testing.T) {
	require.Equal(t, "1,000,000", thousands(1000000))
	require.Equal(t, "999", thousands(999))
	require.Equal(t, "5,106", thousands(5106))
}

func TestSampleIndexes(t *testing.T) {
	require.Nil(t, sampleIndexes(0))
	require.Equal(t, []int{0}, sampleIndexes(1))
	require.Equal(t, []int{0, 1, 2}, sampleIndexes(3))
	idx := sampleIndexes(1_000_000)
	require.Len(t, idx, 101)
	require.Equal(t, 0, idx[0])
	require.Equal(t, 999_999, idx[100])
}

func TestBacklogKinds(t *testing.T) {
	cfg, err := parseFlags(nil)
	require.NoError(t, err)
	require.Equal(t, backlogClean, cfg.backlog, "box-node-sdk cannot decode the synthetic backlog's odd shapes")
	cfg, err = parseFlags([]string{"-peers", "telegraf-box,compiled-in"})
	require.NoError(t, err)
	require.Equal(t, backlogSynthetic, cfg.backlog)

	for _, kind := range []string{backlogSynthetic, backlogClean} {
		b, err := newBacklog(kind, boxsim.StreamAdminLogsStreaming, 2000, 0.05, 1)
		require.NoError(t, err)
		require.Equal(t, 2000, b.distinct, kind)
		require.Greater(t, b.served, 2000, kind)
		require.Less(t, b.served, 2300, kind)
		require.Len(t, b.sample, 101, kind)
		b.close()
	}
}
