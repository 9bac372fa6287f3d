package box_events

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// batchOutput settles what the plugin emitted since its last flush as one
// write, the way outputs.influxdb_v2 does: InfluxDB refuses a batch holding
// one event it refuses for good (400/422) and Telegraf then rejects every
// metric of the batch; while the output is down (an outage long enough for
// the buffer to overflow) every batch is rejected. It counts what was
// accepted, by event id. A batch holds whole groups (taken under the
// tracker's lock, which the plugin holds while it adds a group): Telegraf's
// batches can also cut a group, and the part of a rejected group an output
// wrote is then written again, the same points (at least once).
type batchOutput struct {
	mu       sync.Mutex
	tracker  *tracker
	acc      *testutil.Accumulator
	done     int
	refused  map[string]bool
	down     bool
	accepted map[string]int
	rejected int // batches rejected
}

func newBatchOutput(acc *testutil.Accumulator, tr *tracker, refused ...string) *batchOutput {
	o := &batchOutput{acc: acc, tracker: tr, refused: make(map[string]bool), accepted: make(map[string]int)}
	for _, id := range refused {
		o.refused[id] = true
	}
	return o
}

func (o *batchOutput) setDown(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *batchOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tracker.mu.Lock()
	ms := o.acc.GetTelegrafMetrics()
	o.tracker.mu.Unlock()
	batch := ms[o.done:]
	o.done = len(ms)
	if len(batch) == 0 {
		return
	}
	refuse := o.down
	for _, m := range batch {
		if id, _ := m.GetField("event_id"); o.refused[fmt.Sprint(id)] {
			refuse = true
		}
	}
	if refuse {
		o.rejected++
	}
	for _, m := range batch {
		if refuse {
			m.Reject()
			continue
		}
		id, _ := m.GetField("event_id")
		o.accepted[fmt.Sprint(id)]++
		m.Accept()
	}
}

func (o *batchOutput) rejections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rejected
}

// acceptedIDs returns every event id accepted, once per acceptance, sorted.
func (o *batchOutput) acceptedIDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for id, n := range o.accepted {
		for range n {
			ids = append(ids, id)
		}
	}
	return sorted(ids)
}

// flushUntil flushes and moves mock time on by a second until cond holds.
func (o *batchOutput) flushUntil(t *testing.T, mock *clock.Mock, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, func() bool {
		o.flush()
		if cond() {
			return true
		}
		mock.Add(time.Second)
		return false
	}, 30*time.Second, time.Millisecond, msgAndArgs...)
}

func without(ids []string, drop string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != drop {
			out = append(out, id)
		}
	}
	return out
}

// An output that refuses one event for good (outputs.influxdb_v2 when InfluxDB
// answers 422 for a point beyond the bucket's retention) used to stop the
// stream there for ever: the page was read again and again, nothing after it
// was written, and once Box's retention passed it was lost. The refused event
// is now isolated (the page is read again in smaller parts, each written
// alone) and, refused alone while the events after it are accepted, skipped
// with an error naming it; every other event is written exactly once.
func TestRefusedEvent_IsSkippedAndTheStreamGoesOn(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 97})
	sim.EmitEnterprise(40)
	produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)
	refused := produced[13]
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.PageSize = 10
	acc, _ := run(t, p)
	out := newBatchOutput(acc, p.tracker, refused)

	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	out.flushUntil(t, mock, func() bool { return committed(p) == head },
		"the stream never went past the refused event %s", refused)
	require.Equal(t, sorted(without(produced, refused)), out.acceptedIDs(), "every other event exactly once")

	errs := errorTexts(acc)
	require.Len(t, errs, 1, "one error for the refused event: %q", errs)
	require.Contains(t, errs[0], refused)
	require.Contains(t, errs[0], "admin_logs_streaming")
	require.Regexp(t, `event_type \S+`, errs[0])
	require.Regexp(t, `created_at \d{4}-\d\d-\d\dT`, errs[0])
	require.Regexp(t, `position \d+`, errs[0])
	require.Equal(t, int64(1), stat(t, p, "events_refused"))

	// The stream goes on as before.
	later := sim.EmitEnterprise(25)
	head = sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	out.flushUntil(t, mock, func() bool { return committed(p) == head }, "the stream stopped after the skip")
	require.Equal(t, sorted(append(without(produced, refused), eventIDsOf(later)...)), out.acceptedIDs())
	require.Len(t, errorTexts(acc), 1)
}

// A user stream brings an event or a few a page: the refused one is isolated
// the same way.
func TestRefusedEvent_UserStream(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 98})
	sim.EmitUser(12)
	produced := sim.ProducedIDs(boxsim.StreamAll)
	refused := produced[0] // at the committed position: nothing accepted before it
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.PageSize = 4
	acc, _ := run(t, p)
	out := newBatchOutput(acc, p.tracker, refused)

	head := sim.HeadPosition(boxsim.StreamAll)
	out.flushUntil(t, mock, func() bool { return committed(p) == head },
		"the stream never went past the refused event %s", refused)
	require.Equal(t, sorted(without(produced, refused)), out.acceptedIDs(), "every other event exactly once")
	errs := errorTexts(acc)
	require.Len(t, errs, 1, "%q", errs)
	require.Contains(t, errs[0], refused)
}

// An output outage long enough for its buffer to overflow rejects every page,
// many more times than it takes to begin isolating an event: nothing is ever
// skipped, since no event was accepted meanwhile, and once the output is back
// every event is written exactly once.
func TestRefusedEvent_OutageSkipsNothing(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 99})
	sim.EmitEnterprise(30)
	produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)
	mock := mockClock()
	logger := &testutil.CaptureLogger{}
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.Log = logger
	p.PageSize = 10
	acc, _ := run(t, p)
	out := newBatchOutput(acc, p.tracker)
	out.setDown(true)

	const outage = 8 * rejectsReported
	out.flushUntil(t, mock, func() bool { return out.rejections() >= outage }, "the page was not read again")
	require.Equal(t, "0", committed(p))
	require.Empty(t, out.acceptedIDs())

	out.setDown(false)
	head := sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	out.flushUntil(t, mock, func() bool { return committed(p) == head }, "the stream did not recover")
	require.Equal(t, sorted(produced), out.acceptedIDs(), "nothing lost, nothing twice")
	require.Empty(t, errorTexts(acc))
	require.Zero(t, stat(t, p, "events_refused"))
	for _, line := range logger.Messages() {
		require.NotContains(t, line.Text, "refused event", "nothing skipped during an outage")
	}
}

// Events refused one after another (a backfill reaching further back than the
// bucket's retention) look like an outage: the event after the refused one is
// refused too, so there is no evidence that the outputs work, and nothing is
// skipped. The events before them are written, exactly once.
func TestRefusedEvent_RunOfRefusedEventsIsNotSkipped(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 100})
	sim.EmitEnterprise(30)
	produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.PageSize = 10
	acc, _ := run(t, p)
	out := newBatchOutput(acc, p.tracker, produced[13:]...)

	out.flushUntil(t, mock, func() bool { return out.rejections() >= 10*rejectsReported }, "the page was not read again")
	require.Equal(t, sorted(produced[:13]), out.acceptedIDs(), "the events before the refused ones, exactly once")
	require.Empty(t, errorTexts(acc))
	require.Zero(t, stat(t, p, "events_refused"))
}
