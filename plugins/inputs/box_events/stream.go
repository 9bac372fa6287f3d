package box_events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxauth"
	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const (
	// minFetchSpacing keeps GET /events to at most one a second while nothing
	// new arrives (box-java-sdk #564, box-node-sdk #165: without it clients
	// spun at several calls a second on repeats).
	minFetchSpacing = time.Second
	// minPollSpacing does the same for long polls that end at once without news.
	minPollSpacing = time.Second
	backoffBase    = time.Second
	backoffMax     = 5 * time.Minute
	// authBackoff is the wait after Box refused the credentials: retrying
	// sooner cannot help and only fills the logs (box-node-sdk #16).
	authBackoff = 5 * time.Minute
)

// step does one round of reading a stream and returns how long to wait before
// the next round.
type step func(ctx context.Context) (time.Duration, error)

// retryLoop runs step until ctx ends. Failures are reported and retried with
// capped exponential backoff; the stream never stops on its own.
func (b *BoxEvents) retryLoop(ctx context.Context, next step) {
	failures := 0
	for {
		wait, err := next(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && boxevents.IsPositionRejected(err) && b.OnInvalidPosition != onInvalidFail:
			pos, _ := b.tracker.position()
			from := b.restartStream()
			b.acc.AddError(fmt.Errorf("box rejected position %s of the %s stream: %w; restarting from %s (on_invalid_position = %q)",
				pos, b.stream, err, from, b.OnInvalidPosition))
			failures, wait = 0, 0
		case err != nil:
			failures++
			wait = retryDelay(err, failures)
			b.acc.AddError(fmt.Errorf("reading the %s stream: %w (retrying in %s)", b.stream, err, wait.Round(time.Second)))
		default:
			failures = 0
		}
		if wait > 0 && !b.sleep(ctx, wait) {
			return
		}
	}
}

// retryDelay is the wait after the n-th failure in a row.
func retryDelay(err error, n int) time.Duration {
	if errors.Is(err, boxauth.ErrRefused) {
		return authBackoff
	}
	d := backoffMax
	if n < 20 {
		d = min(backoffBase<<(n-1), backoffMax)
	}
	// Full jitter in [d/2, d): instances that failed together spread out.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) //nolint:gosec // jitter needs no crypto
}

// sleep waits d on the plugin's clock; it returns false when ctx ended first.
func (b *BoxEvents) sleep(ctx context.Context, d time.Duration) bool {
	t := b.clock.Timer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pollEnterprise reads an enterprise stream until caught up, then waits
// poll_interval. Enterprise streams have no long poll.
func (b *BoxEvents) pollEnterprise(ctx context.Context) (time.Duration, error) {
	if err := b.ensurePosition(ctx); err != nil {
		return 0, err
	}
	if err := b.drain(ctx); err != nil {
		return 0, err
	}
	if bf := b.currentBackfill(); bf != nil {
		if b.tracker.inFlight() > 0 {
			// The last admin_logs pages must be committed before the position
			// switches to the other stream.
			return time.Second, nil
		}
		if wait := b.clock.Until(bf.before.Add(b.backfillSettle)); wait > 0 {
			// admin_logs shows events up to a minute late: read it once more
			// after that before handing over.
			return wait, nil
		}
		b.finishBackfill(bf)
		return 0, nil
	}
	return b.interval, nil
}

// userStream follows a user stream (all, changes, sync) with Box's long-poll
// protocol: drain, OPTIONS /events for a realtime server, long-poll it, and
// drain again on new_change.
type userStream struct {
	b       *BoxEvents
	server  *boxevents.RealtimeServer
	since   time.Time // when server was obtained
	polls   int       // long polls sent to server
	pending bool      // a new_change is known: drain before polling
}

func newUserStream(b *BoxEvents) *userStream {
	return &userStream{b: b, pending: true}
}

func (s *userStream) step(ctx context.Context) (time.Duration, error) {
	b := s.b
	if err := b.ensurePosition(ctx); err != nil {
		return 0, err
	}
	if s.pending {
		if err := b.drain(ctx); err != nil {
			return 0, err
		}
		s.pending = false
	}
	if s.server == nil || s.expired() {
		srv, err := b.client.RealtimeServer(ctx)
		if err != nil {
			s.server = nil
			return 0, fmt.Errorf("getting a realtime server: %w", err)
		}
		s.server, s.since, s.polls = &srv, b.clock.Now(), 0
	}

	// A rejected page moves the position back; a poll still holding the
	// newer position would wait for news that were already read.
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.tracker.rewound:
			cancel()
		case <-pollCtx.Done():
		}
	}()
	pos, _ := b.tracker.position()
	started := b.clock.Now()
	msg, err := b.client.LongPoll(pollCtx, *s.server, pos)
	s.polls++
	if err != nil {
		if ctx.Err() == nil && pollCtx.Err() != nil {
			s.pending = true // rewound: read again from the committed position
			return 0, nil
		}
		s.server = nil
		return 0, fmt.Errorf("long poll: %w", err)
	}
	switch msg {
	case boxevents.MessageNewChange:
		s.pending = true
		return 0, nil
	case boxevents.MessageTimeout:
		// No answer within retry_timeout: poll again, after checking for news
		// that a half-dead connection may have hidden.
		s.pending = true
		return 0, nil
	case boxevents.MessageReconnect, boxevents.MessageMaxRetries:
		s.server = nil
	default:
		b.Log.Debugf("Unknown long-poll message %q; getting a new realtime server", msg)
		s.server = nil
	}
	// Guard against a realtime server that answers at once every time.
	if elapsed := b.clock.Since(started); elapsed < minPollSpacing {
		return minPollSpacing - elapsed, nil
	}
	return 0, nil
}

// expired reports whether the realtime server must be replaced: its
// max_retries polls were used or its ttl (minutes) passed.
func (s *userStream) expired() bool {
	if s.server.MaxRetries > 0 && s.polls >= s.server.MaxRetries {
		return true
	}
	return s.server.TTL > 0 && s.b.clock.Since(s.since) >= time.Duration(s.server.TTL)*time.Minute
}

// ensurePosition gives the stream a position to read from when it has none:
// the start_position, with "now" resolved by asking Box for its latest one.
func (b *BoxEvents) ensurePosition(ctx context.Context) error {
	if pos, _ := b.tracker.position(); pos != "" {
		return nil
	}
	if started, err := b.beginBackfill(ctx); started || err != nil {
		return err
	}
	start := b.start
	if b.stream == boxevents.StreamAdminLogs && !b.after.IsZero() {
		// created_after already says where to begin.
		start = "0"
	}
	if start != boxevents.PositionNow {
		b.tracker.start(start)
		return nil
	}
	page, err := b.client.Events(ctx, b.query(boxevents.PositionNow))
	if err != nil {
		return fmt.Errorf("getting the current stream position: %w", err)
	}
	if !resumable(page.NextStreamPosition) {
		return fmt.Errorf("getting the current stream position: Box answered %q", page.NextStreamPosition)
	}
	b.tracker.start(page.NextStreamPosition)
	b.Log.Infof("Starting the %s stream at the current position %s", b.stream, page.NextStreamPosition)
	b.saveState()
	return nil
}

func (b *BoxEvents) query(pos boxevents.StreamPosition) boxevents.EventsQuery {
	q := boxevents.EventsQuery{
		StreamType:     b.stream,
		StreamPosition: pos,
		Limit:          b.PageSize,
	}
	if b.stream.Enterprise() {
		q.EventTypes = b.EventTypes
	}
	if b.stream == boxevents.StreamAdminLogs {
		q.CreatedAfter, q.CreatedBefore = b.after, b.before
	}
	if bf := b.currentBackfill(); bf != nil && pos != boxevents.PositionNow {
		q.StreamType = boxevents.StreamAdminLogs
		// created_before is sent to the second: round up so the last second
		// before the handover position is not cut off. Later events also in
		// the streaming part are dropped as repeats.
		q.CreatedAfter, q.CreatedBefore = b.startTime, bf.before.Truncate(time.Second).Add(2*time.Second)
	}
	return q
}

// drain reads pages from the fetch position while they come back full, and
// hands each to the accumulator. At most max_undelivered_pages are in flight:
// while outputs are down it stops reading.
func (b *BoxEvents) drain(ctx context.Context) error {
	for {
		if err := b.tracker.reserve(ctx); err != nil {
			return err
		}
		if !b.lastFull {
			if wait := minFetchSpacing - b.clock.Since(b.lastGet); wait > 0 && !b.sleep(ctx, wait) {
				b.tracker.release()
				return ctx.Err()
			}
		}
		pos, gen := b.tracker.position()
		b.lastGet = b.clock.Now()
		page, err := b.client.Events(ctx, b.query(pos))
		if err != nil {
			b.tracker.release()
			b.lastFull = false
			return err
		}
		b.lastFull = len(page.Entries) >= b.PageSize
		if len(page.Entries) > 0 && b.currentBackfill() != nil {
			// admin_logs may answer short pages while more remain; a backfill
			// must not hand over early, so it reads until a page is empty.
			b.lastFull = true
		}
		advanced := b.emit(page, gen)
		if !b.lastFull || !advanced || page.NextStreamPosition == pos {
			return nil
		}
	}
}

// emit turns a page into one tracking group and records it with the tracker.
// Events already emitted (Box repeats them) are dropped. It reports whether
// the fetch position moved.
func (b *BoxEvents) emit(page *boxevents.Page, gen uint64) bool {
	var next boxevents.StreamPosition
	if len(page.Entries) > 0 {
		if resumable(page.NextStreamPosition) {
			next = page.NextStreamPosition
		} else {
			// Never move past events on a position that cannot be resumed from.
			b.acc.AddError(fmt.Errorf("box sent %d %s events without a usable next_stream_position (%q); the position stays where it was",
				len(page.Entries), b.stream, page.NextStreamPosition))
		}
	}

	now := b.clock.Now()
	floor := b.eventFloor()
	metrics := make([]telegraf.Metric, 0, len(page.Entries))
	ids := make([]string, 0, len(page.Entries))
	inPage := make(map[string]struct{}, len(page.Entries))
	repeats := 0
	for i := range page.Entries {
		ev := &page.Entries[i]
		if id := ev.EventID; id != "" {
			if _, dup := inPage[id]; dup || b.tracker.seenBefore(id) {
				repeats++
				continue
			}
			inPage[id] = struct{}{}
			ids = append(ids, id)
		}
		if b.typeFilter != nil && !b.typeFilter[ev.EventType] {
			continue
		}
		if !floor.IsZero() {
			if created, err := time.Parse(time.RFC3339, ev.CreatedAt); err == nil && created.Before(floor) {
				continue
			}
		}
		m, err := eventMetric(ev, b.stream, now)
		if err != nil {
			b.Log.Warn(err.Error())
		}
		metrics = append(metrics, m)
	}
	if repeats > 0 {
		b.Log.Debugf("Dropped %d repeated events of %d in a %s page", repeats, len(page.Entries), b.stream)
	}

	pushed := b.tracker.push(gen, next, ids, func() (telegraf.TrackingID, bool) {
		if len(metrics) == 0 {
			return 0, false
		}
		return b.acc.AddTrackingMetricGroup(metrics), true
	})
	if !pushed {
		// A rewind happened while the page was read: it will be read again.
		b.tracker.release()
		return false
	}
	return next != ""
}
