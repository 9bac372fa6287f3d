package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
	"github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

// lineCounter counts the lines written to it and keeps nothing.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// heapInUse is the heap in use once the garbage collector ran.
func heapInUse() int64 {
	runtime.GC() //nolint:revive // the heap in use is measured after a full collection
	runtime.GC() //nolint:revive // a second one finishes what the first swept
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// A burst of pages a few times larger than usual (events with a few KiB of additional_details
// each) must not leave the binary's memory up once normal pages follow: the buffers the pages
// were read and decoded into are kept for the next pages, but not at the burst's size for
// ever. Through the simulated Box, the plugin and the runner, which gives every page's text
// back.
func TestRunner_BurstOfLargePagesDoesNotKeepMemoryUp(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 12, MaxEvents: 500})
	sim.EmitEnterprise(500)
	conf := fmt.Sprintf(`[[inputs.box_events]]
  base_url = %q
  stream_type = "admin_logs_streaming"
  start_position = "0"
  page_size = 500
  poll_interval = "1s"
  commit_delay = "0s"
  client_id = %q
  client_secret = %q
  subject_id = %q
`, sim.URL(), boxsim.DefaultClientID, boxsim.DefaultClientSecret, boxsim.DefaultEnterpriseID)
	ri, err := loadPlugin(writeConf(t, conf))
	require.NoError(t, err)
	in, ok := ri.Input.(*box_events.BoxEvents)
	require.True(t, ok)
	in.Log = testutil.Logger{}
	require.NoError(t, in.Init())

	stdinR, stdinW := io.Pipe()
	var out lineCounter
	logger := &testutil.CaptureLogger{}
	r := newRunner(in, stdinR, &out, logger)
	r.maker = ri
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	waitLines := func(n int64) {
		require.Eventually(t, func() bool { return out.n.Load() >= n }, 60*time.Second, 5*time.Millisecond,
			"the runner did not write %d lines", n)
	}
	waitLines(500)
	before := heapInUse()

	// Pages of 500 added one at a time, each once the one before was read: the simulator
	// keeps 500 events, as many as when the heap was first measured.
	const size = 5 << 10 // pages of about 2.6 MiB
	lines := int64(500)
	for p := range 3 {
		for i := range 500 {
			raw, err := json.Marshal(map[string]any{
				"type": "event", "event_id": fmt.Sprintf("large-%d-%d", p, i), "event_type": "ITEM_UPLOAD",
				"created_at":         "2026-01-02T03:04:05-08:00",
				"created_by":         map[string]any{"type": "user", "id": "1", "login": "a@example.com"},
				"additional_details": map[string]any{"note": strings.Repeat("x", size)},
			})
			require.NoError(t, err)
			_, err = sim.AddEnterpriseEvent(raw)
			require.NoError(t, err)
		}
		lines += 500
		waitLines(lines)
	}
	for range 5 {
		sim.EmitEnterprise(500)
		lines += 500
		waitLines(lines)
	}
	after := heapInUse()
	require.NoError(t, stdinW.Close())
	require.NoError(t, <-done)
	require.Empty(t, logger.Errors())

	kept := after - before
	t.Logf("heap in use %d MiB after the first normal page, %d MiB after three large pages and five normal ones", before>>20, after>>20)
	require.Less(t, kept, int64(2<<20), "%d MiB more in use after the burst, with normal pages since", kept>>20)
}
