package box_events

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// statsFields are the self-metrics' fields, as the README documents them.
var statsFields = []string{
	"events_emitted", "duplicates_dropped", "events_filtered", "pages_fetched", "api_requests",
	"api_errors_4xx", "api_errors_5xx", "api_errors_network", "api_errors_decode",
	"rate_limited", "rate_limited_wait_ms", "token_refreshes", "token_failures",
	"longpoll_reconnects", "positions_rejected", "pages_rewound", "events_refused",
	"lag_seconds", "commit_age_seconds", "pages_in_flight",
}

// stat returns a self-metric field of p as it is now.
func stat(t *testing.T, p *BoxEvents, field string) int64 {
	t.Helper()
	m := p.SelfMetric()
	require.NotNil(t, m)
	v, ok := m.GetField(field)
	require.True(t, ok, "no field %q", field)
	return v.(int64)
}

// registered returns the selfstat metric of the input with id, if any: what
// [[inputs.internal]] would report.
func registered(id string) (map[string]string, map[string]any, bool) {
	for _, m := range selfstat.Metrics() {
		if m.Name() == statsMeasurement && m.Tags()["id"] == id {
			return m.Tags(), m.Fields(), true
		}
	}
	return nil, nil, false
}

func TestStats_Flow(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 90})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)

	m := p.SelfMetric()
	require.Equal(t, "internal_box_events", m.Name())
	require.Equal(t, map[string]string{"stream_type": "all", "id": p.ID()[:12]}, m.Tags())
	fields := m.Fields()
	require.Len(t, fields, len(statsFields))
	for _, f := range statsFields {
		require.Contains(t, fields, f)
	}
	require.EqualValues(t, acc.NMetrics(), fields["events_emitted"])
	require.Positive(t, fields["pages_fetched"])
	require.GreaterOrEqual(t, fields["api_requests"], fields["pages_fetched"])
	require.Positive(t, fields["token_refreshes"])
	for _, f := range []string{"api_errors_4xx", "api_errors_5xx", "api_errors_network", "api_errors_decode",
		"rate_limited", "token_failures", "positions_rejected", "pages_rewound", "duplicates_dropped", "events_filtered"} {
		require.Zero(t, fields[f], f)
	}

	// The same numbers are in Telegraf's selfstat registry, for [[inputs.internal]].
	tags, reg, ok := registered(p.ID()[:12])
	require.True(t, ok)
	require.Equal(t, m.Tags(), tags)
	require.Equal(t, fields["events_emitted"], reg["events_emitted"])
}

func TestStats_FaultsMoveCounters(t *testing.T) {
	tests := []struct {
		name     string
		endpoint boxsim.Endpoint
		fault    boxsim.Fault
		expire   bool // expire the access token first, so the next request needs a new one
		modify   func(*BoxEvents)
		want     map[string]int64 // at least
	}{
		{name: "429", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 3 * time.Second},
			want: map[string]int64{"rate_limited": 1, "rate_limited_wait_ms": 3000}},
		{name: "503", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultServerError, Status: http.StatusServiceUnavailable},
			want: map[string]int64{"api_errors_5xx": 1}},
		// net/http resends a request once by itself when a reused connection
		// was reset; the second reset reaches the client.
		{name: "reset", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultReset, Times: 2},
			want: map[string]int64{"api_errors_network": 1}},
		{name: "malformed JSON", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultMalformedJSON},
			want: map[string]int64{"api_errors_decode": 1}},
		{name: "401", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultUnauthorized},
			want: map[string]int64{"api_errors_4xx": 1, "token_refreshes": 1}},
		{name: "token endpoint fails", endpoint: boxsim.EndpointToken, fault: boxsim.Fault{Kind: boxsim.FaultServerError}, expire: true,
			want: map[string]int64{"token_failures": 1, "api_errors_4xx": 1}},
		{name: "position rejected", endpoint: boxsim.EndpointEvents, fault: boxsim.Fault{Kind: boxsim.FaultInvalidPosition},
			modify: func(p *BoxEvents) { p.OnInvalidPosition = onInvalidNow },
			want:   map[string]int64{"positions_rejected": 1, "api_errors_4xx": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 91})
			mock := mockClock()
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			if tt.modify != nil {
				tt.modify(p)
			}
			emit(sim, p, 3)
			_, out := run(t, p)
			catchUp(t, sim, p, mock, out)
			before := make(map[string]int64, len(tt.want))
			for f := range tt.want {
				before[f] = stat(t, p, f)
			}
			if tt.expire {
				sim.ExpireTokens()
			}
			sim.InjectFault(tt.endpoint, tt.fault)
			emit(sim, p, 2)
			pump(t, mock, out, retryStep, func() bool {
				for f, n := range tt.want {
					if stat(t, p, f) < before[f]+n {
						return false
					}
				}
				return committed(p) == sim.HeadPosition(simStream(p))
			}, "the counters never moved")
		})
	}
}

func TestStats_Duplicates(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 92, UserDuplicateRate: 1})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	emit(sim, p, 4)
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.Positive(t, stat(t, p, "duplicates_dropped"))
	require.EqualValues(t, acc.NMetrics(), stat(t, p, "events_emitted"))
	require.Len(t, eventIDs(acc.GetTelegrafMetrics()), 4, "each event once")
}

func TestStats_Filtered(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 93})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.EventTypes = []string{"ITEM_UPLOAD"}
	for range 3 {
		sim.EmitType(boxsim.Stream("all"), "ITEM_UPLOAD")
		sim.EmitType(boxsim.Stream("all"), "ITEM_PREVIEW")
	}
	acc, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.EqualValues(t, 3, acc.NMetrics())
	require.EqualValues(t, 3, stat(t, p, "events_emitted"))
	require.EqualValues(t, 3, stat(t, p, "events_filtered"))
}

func TestStats_LongPollReconnect(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 94, Clock: mock})
	p := withMock(newPlugin(sim, "all"), mock)
	_, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	require.Zero(t, stat(t, p, "longpoll_reconnects"))
	// The held long poll answers reconnect once its retry_timeout passed.
	pump(t, mock, out, time.Second, func() bool { return stat(t, p, "longpoll_reconnects") > 0 },
		"no reconnect counted")
}

func TestStats_RewoundAndInFlight(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 95})
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	emit(sim, p, 3)
	acc, out := run(t, p)
	require.Eventually(t, func() bool { return acc.NMetrics() > 0 }, 10*time.Second, time.Millisecond)
	require.Positive(t, stat(t, p, "pages_in_flight"), "the page waits for the output")
	out.reject()
	pump(t, mock, out, time.Second, func() bool {
		return stat(t, p, "pages_rewound") == 1 && committed(p) == sim.HeadPosition(simStream(p))
	}, "the rejected page was never read again")
	require.Zero(t, stat(t, p, "pages_in_flight"))
}

func TestStats_CommitAgeGrowsWhileStalled(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 96})
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	emit(sim, p, 3)
	_, out := run(t, p)
	catchUp(t, sim, p, mock, out)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	age, lag := stat(t, p, "commit_age_seconds"), stat(t, p, "lag_seconds")

	// Box stops answering: nothing is committed for ten minutes.
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultHang, Times: 1000})
	emit(sim, p, 2)
	for range 10 {
		mock.Add(time.Minute)
	}
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	require.GreaterOrEqual(t, stat(t, p, "commit_age_seconds"), age+600)
	require.GreaterOrEqual(t, stat(t, p, "lag_seconds"), lag+600)
}

func TestStats_InstancesAndStop(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	a := newPlugin(sim, "all")
	a.Statistics = selfstat.NewCollector(map[string]string{"alias": "audit-all", "input": "box_events"})
	b := newPlugin(sim, "admin_logs_streaming")
	require.NoError(t, a.Init())
	require.NoError(t, b.Init())

	tags, _, ok := registered("audit-all")
	require.True(t, ok, "the alias names the input")
	require.Equal(t, map[string]string{"stream_type": "all", "id": "audit-all"}, tags)
	_, _, ok = registered(b.ID()[:12])
	require.True(t, ok, "without alias, the start of the plugin's ID")

	a.Stop()
	_, _, ok = registered("audit-all")
	require.False(t, ok, "Stop unregisters")
	_, _, ok = registered(b.ID()[:12])
	require.True(t, ok, "another input's stats stay")
	b.Stop()
	_, _, ok = registered(b.ID()[:12])
	require.False(t, ok)
	for _, m := range selfstat.Metrics() {
		require.NotEqual(t, statsMeasurement+"_alias_probe", m.Name(), "the alias probe is gone")
	}
}

func TestStats_IntervalValidation(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, d := range []time.Duration{-time.Second, 500 * time.Millisecond} {
		p := newPlugin(sim, "all")
		p.StatsInterval = config.Duration(d)
		require.ErrorContains(t, p.Init(), "invalid stats_interval "+d.String()+`: want "0s"`)
		_, _, ok := registered(p.ID()[:12])
		require.False(t, ok, "a failed Init leaves no stats behind")
	}
	for _, d := range []time.Duration{0, 2 * time.Second} {
		p := newPlugin(sim, "all")
		p.StatsInterval = config.Duration(d)
		require.NoError(t, p.Init())
		p.Stop()
	}
}
