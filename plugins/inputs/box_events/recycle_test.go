package box_events

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// The reader gives each page's entries back to the client once the page became metrics, and
// the next pages are decoded into that room. Through the simulated Box and the plugin, in many
// small pages of events of every shape: each metric is exactly the metric of its event decoded
// on its own, so nothing of an earlier page shows through in a later one.
func TestStream_RecycledPagesKeepEachEventItsOwn(t *testing.T) {
	for _, stream := range []string{"admin_logs_streaming", "all"} {
		t.Run(stream, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 11})
			p := newPlugin(sim, stream)
			p.PageSize = 40
			emit(sim, p, 1200)
			acc, out := run(t, p)
			catchUp(t, sim, p, nil, out)

			want := referenceMetrics(t, sim, boxevents.StreamType(stream))
			require.Len(t, want, 1200)
			testutil.RequireMetricsEqual(t, want, acc.GetTelegrafMetrics(), testutil.SortMetrics())
		})
	}
}

// referenceMetrics reads stream from its start with a client of its own that never recycles a
// page, one event per page, and returns each distinct event's metric.
func referenceMetrics(t *testing.T, sim *boxsim.Server, stream boxevents.StreamType) []telegraf.Metric {
	t.Helper()
	client, err := boxevents.New(boxevents.Config{BaseURL: sim.URL(), HTTPClient: &http.Client{},
		Auth: staticToken(sim.IssueToken(boxsim.SubjectEnterprise))})
	require.NoError(t, err)
	var out []telegraf.Metric
	seen := make(map[string]bool)
	pos := boxevents.StreamPosition("0")
	for {
		page, err := client.Events(context.Background(), boxevents.EventsQuery{StreamType: stream, StreamPosition: pos, Limit: 1})
		require.NoError(t, err)
		for i := range page.Entries {
			ev := &page.Entries[i]
			if seen[ev.EventID] {
				continue
			}
			seen[ev.EventID] = true
			ts, ok := eventTime(ev)
			require.True(t, ok, "event %s", ev.EventID)
			out = append(out, eventMetric(ev, stream, ts, nil))
		}
		if len(page.Entries) == 0 || page.NextStreamPosition == pos {
			return out
		}
		pos = page.NextStreamPosition
	}
}
