package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
	"github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

// The runner gives every metric it wrote and acknowledged back to box_events, which builds a
// later event's metric in it. Through the simulated Box, the plugin and the runner, in small
// pages of events of every shape: each line on stdout is its own event's line, as box_events
// makes it for a consumer that never gives a metric back (Telegraf's agent).
func TestRunner_ReusedMetricsEachWriteTheirOwnEvent(t *testing.T) {
	const events = 1200
	for _, stream := range []string{"admin_logs_streaming", "all"} {
		t.Run(stream, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 11, PositionFormat: boxsim.PositionMixed})
			if boxsim.Stream(stream).Enterprise() {
				sim.EmitEnterprise(events)
			} else {
				sim.EmitUser(events)
			}

			stdinR, stdinW := io.Pipe()
			var out syncBuffer
			logger := &testutil.CaptureLogger{}
			r := newRunner(simPlugin(t, sim, stream), stdinR, &out, logger)
			done := make(chan error, 1)
			go func() { done <- r.run() }()
			require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= events },
				30*time.Second, 5*time.Millisecond, "the runner did not write %d lines", events)
			require.NoError(t, stdinW.Close())
			require.NoError(t, <-done)
			require.Empty(t, logger.Errors())

			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			want := agentLines(t, simPlugin(t, sim, stream), events)
			slices.Sort(got)
			slices.Sort(want)
			require.Equal(t, want, got)
		})
	}
}

// simPlugin returns box_events reading stream from its start in the simulated Box, 40 events
// a page.
func simPlugin(t *testing.T, sim *boxsim.Server, stream string) *box_events.BoxEvents {
	t.Helper()
	p, ok := inputs.Inputs["box_events"]().(*box_events.BoxEvents)
	require.True(t, ok)
	p.BaseURL = sim.URL()
	p.StreamType = stream
	p.StartPosition = "0"
	p.PageSize = 40
	p.CommitDelay = 0
	p.ClientID = boxsim.DefaultClientID
	p.ClientSecret = config.NewSecret([]byte(boxsim.DefaultClientSecret))
	p.SubjectID = boxsim.DefaultEnterpriseID
	p.Log = testutil.Logger{}
	require.NoError(t, p.Init())
	return p
}

// agentLines runs p as Telegraf's agent would, accepting each metric without giving it back, and
// returns the line protocol of the first n metrics.
func agentLines(t *testing.T, p *box_events.BoxEvents, n int) []string {
	t.Helper()
	metrics := make(chan telegraf.Metric, 100)
	require.NoError(t, p.Start(agent.NewAccumulator(demoMaker{log: testutil.Logger{}}, metrics)))
	defer p.Stop()
	var serializer influx.Serializer
	require.NoError(t, serializer.Init())
	lines := make([]string, 0, n)
	timeout := time.After(30 * time.Second)
	for len(lines) < n {
		select {
		case m := <-metrics:
			line, err := serializer.Serialize(m)
			require.NoError(t, err)
			lines = append(lines, strings.TrimSuffix(string(line), "\n"))
			m.Accept()
		case <-timeout:
			t.Fatalf("box_events emitted %d metrics of %d", len(lines), n)
		}
	}
	return lines
}
