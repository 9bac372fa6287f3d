package box_events

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// pointID is what InfluxDB identifies a point by: measurement, tag set and timestamp.
func pointID(m telegraf.Metric) string {
	var id strings.Builder
	id.WriteString(m.Name())
	for _, tag := range m.TagList() {
		id.WriteString("," + tag.Key + "=" + tag.Value)
	}
	return fmt.Sprintf("%s %d", id.String(), m.Time().UnixNano())
}

// requireOnePointEach fails when two metrics would be one point in InfluxDB, the later
// overwriting the earlier.
func requireOnePointEach(t *testing.T, metrics []telegraf.Metric) {
	t.Helper()
	seen := make(map[string]int, len(metrics))
	for i, m := range metrics {
		id := pointID(m)
		if j, ok := seen[id]; ok {
			t.Fatalf("events %d and %d of %d are one point in InfluxDB: %s", j, i, len(metrics), id)
		}
		seen[id] = i
	}
}

// Events of one user and type without a usable created_at, read in one page, are each a
// point of their own.
func TestUntimedEvents_OnePointEach(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 97})
	for i := range 5 {
		raw := fmt.Sprintf(`{"type":"event","event_id":"untimed-%d","event_type":"ITEM_UPLOAD",`+
			`"created_by":{"type":"user","id":"901","login":"bulk@example.com"},"created_at":"yesterday"}`, i)
		_, err := sim.AddRawEvent(boxsim.StreamAll, json.RawMessage(raw))
		require.NoError(t, err)
	}
	p := newPlugin(sim, "all")
	acc, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))
	metrics := acc.GetTelegrafMetrics()
	require.Len(t, metrics, 5)
	requireOnePointEach(t, metrics)
}

// Events of one user and type without an event_id, in one second, are each a point of their
// own, and one read again lands on the very same point.
func TestEventsWithoutID_OnePointEach(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 98})
	for range 2 { // the second round repeats the first
		for i := range 5 {
			raw := fmt.Sprintf(`{"type":"event","event_type":"ITEM_UPLOAD","created_at":"2026-03-04T10:53:43-08:00",`+
				`"created_by":{"type":"user","id":"901","login":"bulk@example.com"},"source":{"type":"file","id":"%d"}}`, 8000+i)
			_, err := sim.AddRawEvent(boxsim.StreamAll, json.RawMessage(raw))
			require.NoError(t, err)
		}
	}
	p := newPlugin(sim, "all")
	acc, out := run(t, p)
	waitCommitted(t, p, out, sim.HeadPosition(boxsim.StreamAll))
	metrics := acc.GetTelegrafMetrics()
	require.Len(t, metrics, 10, "without an id, repeats cannot be told apart: all are written")
	requireOnePointEach(t, metrics[:5])
	for i, m := range metrics[5:] {
		require.Equal(t, pointID(metrics[i]), pointID(m), "a repeated event lands on the same point")
	}
}
