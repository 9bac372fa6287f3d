package box_events

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// heapInUse is the heap in use once the garbage collector ran.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
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
