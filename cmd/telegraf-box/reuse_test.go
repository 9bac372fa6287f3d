package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
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
		for _, options := range []string{"", perInputOptions} {
			name := stream
			if options != "" {
				name += "/per-input options"
			}
			t.Run(name, func(t *testing.T) {
				sim := boxsim.NewTest(t, boxsim.Options{Seed: 11, PositionFormat: boxsim.PositionMixed})
				if boxsim.Stream(stream).Enterprise() {
					sim.EmitEnterprise(events)
				} else {
					sim.EmitUser(events)
				}

				stdinR, stdinW := io.Pipe()
				var out syncBuffer
				logger := &testutil.CaptureLogger{}
				in, maker := simPlugin(t, sim, stream, options)
				r := newRunner(in, stdinR, &out, logger)
				r.maker = maker
				done := make(chan error, 1)
				go func() { done <- r.run() }()
				require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= events },
					30*time.Second, 5*time.Millisecond, "the runner did not write %d lines", events)
				require.NoError(t, stdinW.Close())
				require.NoError(t, <-done)
				require.Empty(t, logger.Errors())

				got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				in, maker = simPlugin(t, sim, stream, options)
				want := agentLines(t, in, maker, events)
				slices.Sort(got)
				slices.Sort(want)
				require.Equal(t, want, got)
			})
		}
	}
}

// perInputOptions are Telegraf's options of an input that change its metrics after the
// plugin made them (agent.MetricMaker): a name, more tags than the metric has inline room
// for, a tag and a field taken away.
const perInputOptions = `
  name_override = "box"
  tagexclude = ["stream_type"]
  fieldexclude = ["user_type"]
  [inputs.box_events.tags]
    tenant = "a"
    region = "eu"
    aaa = "first"
`

// simPlugin returns box_events reading stream from its start in the simulated Box, 40 events
// a page, loaded from a plugin.conf as the execd binary loads it, with options added to its
// table; and the metric maker that applies Telegraf's per-input options.
func simPlugin(t *testing.T, sim *boxsim.Server, stream, options string) (*box_events.BoxEvents, agent.MetricMaker) {
	t.Helper()
	conf := fmt.Sprintf(`[[inputs.box_events]]
  base_url = %q
  stream_type = %q
  start_position = "0"
  page_size = 40
  commit_delay = "0s"
  client_id = %q
  client_secret = %q
  subject_id = %q
`, sim.URL(), stream, boxsim.DefaultClientID, boxsim.DefaultClientSecret, boxsim.DefaultEnterpriseID)
	ri, err := loadPlugin(writeConf(t, conf+options))
	require.NoError(t, err)
	p, ok := ri.Input.(*box_events.BoxEvents)
	require.True(t, ok)
	p.Log = testutil.Logger{}
	require.NoError(t, p.Init())
	return p, ri
}

// agentLines runs p as Telegraf's agent would, through maker, accepting each metric without giving it back, and
// returns the line protocol of the first n metrics.
func agentLines(t *testing.T, p *box_events.BoxEvents, maker agent.MetricMaker, n int) []string {
	t.Helper()
	metrics := make(chan telegraf.Metric, 100)
	require.NoError(t, p.Start(agent.NewAccumulator(maker, metrics)))
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
