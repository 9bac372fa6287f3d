package box_events

import (
	"context"
	"fmt"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// streamingHistory is how far back admin_logs_streaming can be read from
// position 0. Box keeps two weeks; a day of margin keeps a start time near
// the edge from racing Box's retention.
const streamingHistory = 13 * 24 * time.Hour

// backfill is Box's recipe for moving from admin_logs to admin_logs_streaming
// (migrate-to-stream.md), used when admin_logs_streaming should start earlier
// than the two weeks it keeps: read admin_logs from the start time up to the
// moment the backfill began, then continue admin_logs_streaming from the
// position it had at that moment. Events in both are dropped by event_id.
type backfill struct {
	before   time.Time                // admin_logs created_before
	handover boxevents.StreamPosition // admin_logs_streaming position to continue from
}

// currentBackfill returns the backfill in progress, or nil.
func (b *BoxEvents) currentBackfill() *backfill {
	b.phaseMu.Lock()
	defer b.phaseMu.Unlock()
	return b.backfill
}

// eventFloor returns the time before which events are skipped, or zero.
func (b *BoxEvents) eventFloor() time.Time {
	b.phaseMu.Lock()
	defer b.phaseMu.Unlock()
	return b.notBefore
}

// beginBackfill starts a backfill when admin_logs_streaming should start
// before the history it keeps. It reports whether it did.
func (b *BoxEvents) beginBackfill(ctx context.Context) (bool, error) {
	if b.stream != boxevents.StreamAdminLogsStreaming || b.startTime.IsZero() || b.clock.Since(b.startTime) < streamingHistory {
		return false, nil
	}
	page, err := b.client.Events(ctx, boxevents.EventsQuery{StreamType: boxevents.StreamAdminLogsStreaming, StreamPosition: boxevents.PositionNow})
	if err != nil {
		return false, fmt.Errorf("getting the current admin_logs_streaming position before backfilling: %w", err)
	}
	if !resumable(page.NextStreamPosition) {
		return false, fmt.Errorf("getting the current admin_logs_streaming position: Box answered %q", page.NextStreamPosition)
	}
	b.phaseMu.Lock()
	b.backfill = &backfill{before: b.clock.Now(), handover: page.NextStreamPosition}
	b.tracker.start("0")
	b.phaseMu.Unlock()
	b.Log.Infof("Backfilling admin_logs_streaming from admin_logs since %s, then continuing at streaming position %s",
		b.startTime.Format(time.RFC3339), page.NextStreamPosition)
	b.saveState()
	return true, nil
}

// finishBackfill hands over to admin_logs_streaming once every admin_logs
// page was committed.
func (b *BoxEvents) finishBackfill(bf *backfill) {
	b.phaseMu.Lock()
	b.backfill = nil
	b.tracker.start(bf.handover)
	b.phaseMu.Unlock()
	b.Log.Infof("Backfill from admin_logs complete; continuing admin_logs_streaming at position %s", bf.handover)
	b.saveState()
}

// restartStream applies on_invalid_position after Box rejected the position.
func (b *BoxEvents) restartStream() string {
	b.phaseMu.Lock()
	defer b.phaseMu.Unlock()
	b.backfill = nil
	switch b.OnInvalidPosition {
	case onInvalidNow:
		b.start = boxevents.PositionNow
		b.tracker.reset("")
		return "the current position"
	case onInvalidLookback:
		b.notBefore = b.clock.Now().Add(-time.Duration(b.InvalidPositionLookback))
		if b.stream == boxevents.StreamAdminLogs {
			b.after = b.notBefore
		}
		b.tracker.reset("0")
		return "events since " + b.notBefore.UTC().Format(time.RFC3339)
	default:
		b.tracker.reset("0")
		return "the oldest events Box keeps"
	}
}
