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
