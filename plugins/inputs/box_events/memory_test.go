package box_events

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// heapInUse is the heap in use once the garbage collector ran.
func heapInUse() uint64 {
	runtime.GC() //nolint:revive // the heap in use is measured after a full collection
	runtime.GC() //nolint:revive // a second one finishes what the first swept
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// One odd page (a proxy's, a confused Box's: hundreds of events whose address, names and
// additional_details values are tens of KiB each, every one different) must not leave the
// plugin's memory high once it was read and emitted: after it and a few normal pages, with
// every metric gone, the heap is back near where it was. Through the simulated Box and the
// plugin; the simulator's own copy of the events is in both measures.
func TestStream_HugeValuesNotKeptAfterTheirPage(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 5})
	p := newPlugin(sim, "admin_logs_streaming")
	p.PageSize = 500
	mock := mockClock()
	acc, out := run(t, withMock(p, mock))
	emit(sim, p, 50)
	catchUp(t, sim, p, mock, out)

	const events, size = 300, 30 << 10
	for i := range events {
		big := func(what string) string { return fmt.Sprintf("%s-%d-%s", what, i, strings.Repeat("x", size)) }
		raw, err := json.Marshal(map[string]any{
			"type": "event", "event_id": fmt.Sprintf("huge-%d", i), "event_type": "LOGIN",
			"created_at": "2026-01-02T03:04:05-08:00", "ip_address": big("ip"),
			"created_by":         map[string]any{"type": "user", "id": "1", "name": big("name"), "login": "a@example.com"},
			"additional_details": map[string]any{"service_name": big("service")},
		})
		require.NoError(t, err)
		_, err = sim.AddEnterpriseEvent(raw)
		require.NoError(t, err)
	}
	before := heapInUse()

	catchUp(t, sim, p, mock, out)
	for range 3 {
		emit(sim, p, 200)
		catchUp(t, sim, p, mock, out)
	}
	out.mu.Lock()
	acc.ClearMetrics()
	out.done = 0
	out.mu.Unlock()
	after := heapInUse()

	kept := int64(after) - int64(before)
	odd := int64(events * 3 * size)
	t.Logf("heap in use %d MiB before the odd page, %d MiB after it and 600 normal events (the odd page's values: %d MiB)",
		before>>20, after>>20, odd>>20)
	require.Less(t, kept, odd/4, "%d MiB still in use after the odd page (its values: %d MiB)", kept>>20, odd>>20)
	require.Empty(t, errorTexts(acc))
}

// A page above the client's 32 MiB body bound (a burst of events with large
// additional_details: Shield alerts listing their activities, metadata) is asked again from the
// same position in smaller pages: every event arrives once and the stream goes on, instead of
// asking for the same page for ever.
func TestStream_OversizedPageReadInSmallerPages(t *testing.T) {
	for _, stream := range []string{"admin_logs_streaming", "all"} {
		t.Run(stream, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 6})
			p := newPlugin(sim, stream)
			p.PageSize = 500
			mock := mockClock()
			acc, out := run(t, withMock(p, mock))
			emit(sim, p, 20)
			catchUp(t, sim, p, mock, out)

			const events, size = 400, 100 << 10 // 40 MiB in one page of 500
			for i := range events {
				raw, err := json.Marshal(map[string]any{
					"type": "event", "event_id": fmt.Sprintf("large-%d", i), "event_type": "ITEM_UPLOAD",
					"created_at":         "2026-01-02T03:04:05-08:00",
					"created_by":         map[string]any{"type": "user", "id": "1", "login": "a@example.com"},
					"additional_details": map[string]any{"note": strings.Repeat("x", size)},
				})
				require.NoError(t, err)
				if stream == "all" {
					_, err = sim.AddUserEvent(raw)
				} else {
					_, err = sim.AddEnterpriseEvent(raw)
				}
				require.NoError(t, err)
			}
			emit(sim, p, 20)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}

// The smaller pages asked for instead of an oversized one are read back to back, as full pages
// are: the stream does not wait a poll interval after each of them.
func TestStream_OversizedPageSmallerPagesReadBackToBack(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 7})
	p := newPlugin(sim, "admin_logs_streaming")
	p.PageSize = 500
	p.PollInterval = config.Duration(time.Hour)
	const events, size = 400, 100 << 10 // 40 MiB in one page of 500; 25 MiB in 250
	for i := range events {
		raw, err := json.Marshal(map[string]any{
			"type": "event", "event_id": fmt.Sprintf("large-%d", i), "event_type": "ITEM_UPLOAD",
			"created_at":         "2026-01-02T03:04:05-08:00",
			"created_by":         map[string]any{"type": "user", "id": "1", "login": "a@example.com"},
			"additional_details": map[string]any{"note": strings.Repeat("x", size)},
		})
		require.NoError(t, err)
		_, err = sim.AddEnterpriseEvent(raw)
		require.NoError(t, err)
	}
	mock := mockClock()
	acc, out := run(t, withMock(p, mock))
	deadline := time.Now().Add(20 * time.Second) // real time, a failsafe: the mock clock stays still
	for int(acc.NMetrics()) < events && time.Now().Before(deadline) {
		out.accept()
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, events, int(acc.NMetrics()), "events read without waiting a poll interval")
	require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
}
