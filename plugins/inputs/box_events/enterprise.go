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

// pollEnterprise reads an enterprise stream until caught up, then waits
// poll_interval. Enterprise streams have no long poll.
func (r *reader) pollEnterprise(ctx context.Context) (time.Duration, error) {
	if err := r.ensurePosition(ctx); err != nil {
		return 0, err
	}
	if _, err := r.drain(ctx); err != nil {
		return 0, err
	}
	if bf := r.currentBackfill(); bf != nil {
		if r.tracker.inFlight() > 0 {
			// The last admin_logs pages must be committed before the position
			// switches to the other stream. Look again at the next poll: while
			// the outputs are down that may take long, and each look reads
			// admin_logs.
			return r.cfg.interval, nil
		}
		settled := bf.settled
		if settled.IsZero() {
			settled = bf.before.Add(r.cfg.backfillSettle)
		}
		if wait := r.clock.Until(settled); wait > 0 {
			// admin_logs shows events up to a minute late: read it once more
			// after that before handing over.
			return wait, nil
		}
		r.finishBackfill(bf)
		return 0, nil
	}
	return r.cfg.interval, nil
}

// backfill is Box's recipe for moving from admin_logs to admin_logs_streaming
// (migrate-to-stream.md), used when admin_logs_streaming should start earlier
// than the two weeks it keeps: read admin_logs from the start time up to the
// moment the backfill began, then continue admin_logs_streaming from the
// position it had at that moment. Events in both are dropped by event_id.
type backfill struct {
	// before is the admin_logs created_before: when Box answered with the
	// handover position, by Box's clock (its Date header) or the host's,
	// whichever is later, so that a host clock minutes behind Box's does not
	// leave the events of those minutes between the two streams.
	before   time.Time
	handover boxevents.StreamPosition // admin_logs_streaming position to continue from
	// settled is when admin_logs has shown the events up to before, by the
	// local clock (backfill_settle after the backfill began); zero for a
	// backfill restored from a state: before + backfill_settle then.
	settled time.Time
}

// currentBackfill returns the backfill in progress, or nil.
func (r *reader) currentBackfill() *backfill {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backfill
}

// beginBackfill starts a backfill when admin_logs_streaming should start
// before the history it keeps. It reports whether it did.
func (r *reader) beginBackfill(ctx context.Context) (bool, error) {
	r.mu.Lock()
	may := r.mayBackfill
	r.mu.Unlock()
	if !may || r.cfg.stream != boxevents.StreamAdminLogsStreaming || r.clock.Since(r.cfg.startTime) < streamingHistory {
		return false, nil
	}
	page, err := r.client.Events(ctx, boxevents.EventsQuery{StreamType: boxevents.StreamAdminLogsStreaming, StreamPosition: boxevents.PositionNow})
	if err != nil {
		return false, fmt.Errorf("getting the current admin_logs_streaming position before backfilling: %w", err)
	}
	if !page.NextStreamPosition.Resumable() {
		return false, fmt.Errorf("getting the current admin_logs_streaming position: Box answered %q", page.NextStreamPosition)
	}
	// The later of Box's time (its Date) and the host's: events past the
	// handover that admin_logs also shows are dropped by event_id, while an
	// end too early would lose those between it and the handover (a host
	// clock behind Box's, or a Date that is not Box's: a proxy's own).
	began := r.clock.Now()
	before := began
	if page.Date.After(before) {
		before = page.Date
	}
	r.mu.Lock()
	r.backfill = &backfill{before: before, handover: page.NextStreamPosition, settled: began.Add(r.cfg.backfillSettle)}
	r.tracker.start("0")
	r.mu.Unlock()
	r.log.Infof("Backfilling admin_logs_streaming from admin_logs since %s, then continuing at streaming position %s",
		r.cfg.startTime.Format(time.RFC3339), page.NextStreamPosition)
	r.committed()
	return true, nil
}

// finishBackfill hands over to admin_logs_streaming once every admin_logs
// page was committed.
func (r *reader) finishBackfill(bf *backfill) {
	r.mu.Lock()
	r.backfill = nil
	r.tracker.start(bf.handover)
	r.mu.Unlock()
	r.log.Infof("Backfill from admin_logs complete; continuing admin_logs_streaming at position %s", bf.handover)
	r.committed()
}
