package box_events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// minFetchSpacing spaces GET /events that follow a page that was not full:
// at most ten a second (600 of the 1,000 requests a minute Box allows a
// user), and only while events keep coming. Box's SDKs wait a whole second
// (box-java-sdk #564, box-node-sdk #165: without it clients spun at several
// calls a second on repeats), which delays every event that follows a recent
// one by up to that second; the spinning is prevented instead by backing off
// reads that bring nothing (see userStream.fruitless).
const minFetchSpacing = 100 * time.Millisecond

// reader reads one stream: it owns everything that changes while the stream
// is read (positions through the tracker, the backfill phase, where a
// restarted stream begins, fetch spacing), so that the plugin itself holds
// only configuration and its lifecycle.
type reader struct {
	cfg     *settings
	client  *boxevents.Client
	tracker *tracker
	clock   clock.Clock
	log     telegraf.Logger
	stats   *stats
	acc     telegraf.TrackingAccumulator // set by start
	// committed is called when the reader itself moved the committed
	// position (a new start, an empty page, a backfill handover), to save it.
	committed func()

	mu          sync.Mutex // guards the phase, which the delivery goroutine reads for the state
	notBefore   time.Time  // events created earlier are skipped (start time, lookback)
	backfill    *backfill  // reading admin_logs before handing over to admin_logs_streaming
	after       time.Time  // admin_logs created_after in use
	startAt     boxevents.StreamPosition
	mayBackfill bool // false once on_invalid_position restarted the stream

	// Used by the fetch goroutine only.
	lastGet  time.Time             // when GET /events was last sent
	lastFull bool                  // whether that page was full
	interned *interner             // field values that repeat
	conv     *converter            // events to metrics
	inPage   map[eventKey]struct{} // the events of the page being converted, emptied for each page
	idKeys   []eventKey            // the keys of a group's event ids, reused
	repeated []bool                // whether each was read before, reused
}

func newReader(cfg *settings, client *boxevents.Client, tr *tracker, clk clock.Clock, log telegraf.Logger, st *stats) *reader {
	r := &reader{
		stats:       st,
		cfg:         cfg,
		client:      client,
		tracker:     tr,
		clock:       clk,
		log:         log,
		committed:   func() {},
		notBefore:   cfg.startTime,
		after:       cfg.after,
		startAt:     cfg.start,
		mayBackfill: !cfg.startTime.IsZero(),
		interned:    newInterner(),
		inPage:      make(map[eventKey]struct{}, cfg.pageSize),
	}
	r.conv = &converter{userTag: cfg.userTag, domains: cfg.domains, in: r.interned, pool: newMetricPool(2 * cfg.pageSize)}
	if cfg.stream == boxevents.StreamAdminLogs && !cfg.after.IsZero() {
		r.startAt = "0" // created_after already says where to begin
	}
	return r
}

// committedState is what a state records of the reader.
type committedState struct {
	pos       boxevents.StreamPosition
	keys      []eventKey
	notBefore time.Time
	backfill  *backfill
}

// snapshot returns the committed position and ids together with the phase
// they belong to, taken at one moment: a backfill handover changes both.
func (r *reader) snapshot() committedState {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos, keys := r.tracker.snapshot()
	return committedState{pos: pos, keys: keys, notBefore: r.notBefore, backfill: r.backfill}
}

// restore loads a saved position, events and phase, before the stream is
// read.
func (r *reader) restore(pos boxevents.StreamPosition, keys []eventKey, notBefore time.Time, bf *backfill) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notBefore, r.backfill = notBefore, bf
	if pos == "" {
		// Saved while on_invalid_position "now" waited for Box's current
		// position (see State.awaitingCurrent): ask for it again, as
		// restart does, rather than going back to the start position.
		r.startAt = boxevents.PositionNow
		r.mayBackfill = false
	}
	if r.cfg.stream == boxevents.StreamAdminLogs && notBefore.After(r.after) {
		// A restart's lookback (see restart): position 0 begins there.
		r.after = notBefore
	}
	r.tracker.restore(pos, keys)
}

// ensurePosition gives the stream a position to read from when it has none:
// the start position, with "now" resolved by asking Box for its latest one.
func (r *reader) ensurePosition(ctx context.Context) error {
	if pos, _ := r.tracker.position(); pos != "" {
		return nil
	}
	if started, err := r.beginBackfill(ctx); started || err != nil {
		return err
	}
	r.mu.Lock()
	start := r.startAt
	r.mu.Unlock()
	if start != boxevents.PositionNow {
		r.tracker.start(start)
		return nil
	}
	page, err := r.client.Events(ctx, r.query(boxevents.PositionNow))
	if err != nil {
		return fmt.Errorf("getting the current stream position: %w", err)
	}
	if !page.NextStreamPosition.Resumable() {
		return fmt.Errorf("getting the current stream position: Box answered %q", page.NextStreamPosition)
	}
	r.tracker.start(page.NextStreamPosition)
	r.log.Infof("Starting the %s stream at the current position %s", r.cfg.stream, page.NextStreamPosition)
	r.committed()
	return nil
}

// query is the request for the page at pos.
func (r *reader) query(pos boxevents.StreamPosition) boxevents.EventsQuery {
	q := boxevents.EventsQuery{
		StreamType:     r.cfg.stream,
		StreamPosition: pos,
		Limit:          r.tracker.pageLimit(), // page_size, less while isolating an event an output refuses
	}
	if r.cfg.stream.Enterprise() {
		q.EventTypes = r.cfg.eventTypes
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.stream == boxevents.StreamAdminLogs {
		q.CreatedAfter, q.CreatedBefore = r.after, r.cfg.before
	}
	if bf := r.backfill; bf != nil && pos != boxevents.PositionNow {
		q.StreamType = boxevents.StreamAdminLogs
		// created_before is sent to the second: round up so the last second
		// before the handover position is not cut off. Later events also in
		// the streaming part are dropped as repeats.
		q.CreatedAfter, q.CreatedBefore = r.cfg.startTime, bf.before.Truncate(time.Second).Add(2*time.Second)
	}
	return q
}

// drain reads pages from the fetch position while they come back full and
// hands each to the accumulator. At most page_size × max_undelivered_pages
// events are uncommitted, and at most max_undelivered_pages groups wait for
// their delivery notice: while the outputs do not take them it stops reading. While a
// full page is turned into metrics the next one is already read, and the one after
// it asked for as soon as that one's position is known, so that a backlog keeps
// Box, the decoding and the metrics busy at once (see lookahead). It reports
// whether it read an event it had not read before: repeats, or a new position
// alone, bring nothing new (see userStream.fruitless).
func (r *reader) drain(ctx context.Context) (progress bool, err error) {
	var ahead *lookahead
	defer func() { r.drop(ahead) }()
	for {
		var (
			f     fetched
			after *lookahead // the page after f, asked for while f decoded
		)
		if ahead != nil {
			f, after = ahead.take()
			ahead = nil
		} else {
			if err := r.tracker.reserve(ctx); err != nil {
				return progress, err
			}
			wait, rejects := r.tracker.rewindWait()
			if rejects > 0 {
				r.lastFull = false // an output is overflowing: no fast path
			}
			if !r.lastFull {
				wait = max(wait, minFetchSpacing-r.clock.Since(r.lastGet))
			}
			if wait > 0 && !sleep(ctx, r.clock, wait) {
				r.tracker.release()
				return progress, ctx.Err()
			}
			pos, gen := r.tracker.position()
			r.lastGet = r.clock.Now()
			f, after = r.readAhead(ctx, pos, gen).take()
		}
		if f.err != nil {
			r.tracker.release()
			r.drop(after)
			r.lastFull = false
			return progress, f.err
		}
		page := f.page
		full := r.cfg.pageSize
		if page.Limit > 0 {
			// A page asked again for fewer events (the first was above the body bound) is
			// full at its own limit.
			full = min(full, page.Limit)
		}
		r.lastFull = len(page.Entries) >= full
		if len(page.Entries) > 0 && r.currentBackfill() != nil {
			// admin_logs may answer short pages while more remain; a backfill
			// must not hand over early, so it reads until a page is empty.
			r.lastFull = true
		}
		next := page.NextStreamPosition
		onward := r.lastFull && next.Resumable() && next != f.pos
		if after != nil && onward && after.pos == next {
			ahead, after = after, nil
			r.lastGet = ahead.started
			ahead.arm()
		}
		r.drop(after) // the page turned out short, or Box said otherwise once decoded
		if ahead == nil && onward && r.tracker.tryReserve() {
			r.lastGet = r.clock.Now()
			ahead = r.readAhead(ctx, next, f.gen)
		}
		// The metrics' strings are the page's text: it is given back to the client once the
		// reader and every metric made of it are done with it (see textLease).
		text := newTextLease(page.TakeText(), r.client.RecycleText)
		r.conv.text = text
		advanced, fresh, err := r.emit(ctx, page, f.pos, f.gen)
		r.conv.text = nil
		progress = progress || fresh
		// The metrics hold strings of the page's text, not its events: the page's entries can
		// hold the next page's.
		r.client.Recycle(page)
		text.done()
		if err != nil {
			return progress, err
		}
		if !r.lastFull || !advanced {
			return progress, nil
		}
	}
}

// fetched is a page read at pos in generation gen, or why it could not be.
type fetched struct {
	pos  boxevents.StreamPosition
	gen  uint64
	page *boxevents.Page
	err  error
}

// lookahead is a page being read in the background, holding a place reserved
// for it. Once armed, it also asks for the page after it (next) as soon as its
// own answer gives the position, before its entries decode
// (boxevents.EventsQuery.Ahead), if its chunk_size says it is full and a place
// is free: Box can only be asked for a page with the position the last one
// gave, and this way its answering the next page overlaps the decoding of this
// one. drain arms only the page right after the one it turns into metrics, so
// that at most two pages are read ahead of it.
type lookahead struct {
	r       *reader
	ctx     context.Context // drain's: next outlives this page's request
	pos     boxevents.StreamPosition
	gen     uint64
	started time.Time
	done    chan fetched
	cancel  context.CancelFunc

	// mu guards what the goroutine reading the page (ahead) and drain (arm) both touch.
	mu    sync.Mutex
	armed bool
	head  boxevents.StreamPosition // the position ahead its answer gave; "" until heard
	full  bool                     // ... from a full page
	asked chan struct{}            // closed once next was asked for; nil until heard and armed
	next  *lookahead               // written by askNext, read by take after asked is closed
}

// readAhead asks for the page at pos, read in generation gen, in the background; armed.
func (r *reader) readAhead(ctx context.Context, pos boxevents.StreamPosition, gen uint64) *lookahead {
	a := r.newLookahead(ctx, pos, gen)
	a.armed = true
	return a.start()
}

func (r *reader) newLookahead(ctx context.Context, pos boxevents.StreamPosition, gen uint64) *lookahead {
	return &lookahead{r: r, ctx: ctx, pos: pos, gen: gen, started: r.clock.Now(), done: make(chan fetched, 1)}
}

// start reads the page on a goroutine of its own.
func (a *lookahead) start() *lookahead {
	go a.prepare()()
	return a
}

// prepare makes the page's request cancellable (drop) and returns the function that reads it.
func (a *lookahead) prepare() (read func()) {
	actx, cancel := context.WithCancel(a.ctx)
	a.cancel = cancel
	q := a.r.query(a.pos)
	q.Ahead = a.ahead
	return func() {
		page, err := a.r.client.Events(actx, q)
		a.done <- fetched{pos: a.pos, gen: a.gen, page: page, err: err}
	}
}

// ahead hears the page's position ahead (on the goroutine reading it).
func (a *lookahead) ahead(next boxevents.StreamPosition, chunkSize int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.head != "" {
		return // a retried request: the first answer's is asked for already
	}
	a.head, a.full = next, chunkSize >= a.r.cfg.pageSize
	a.askNextLocked()
}

// arm lets the page ask for the one after it, at once if its position is known.
func (a *lookahead) arm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed = true
	a.askNextLocked()
}

func (a *lookahead) askNextLocked() {
	if !a.armed || a.asked != nil || !a.full || !a.head.Resumable() || a.head == a.pos {
		return
	}
	a.asked = make(chan struct{})
	// Not on the goroutine decoding this page, and not under a.mu: the tracker's lock is
	// held while a page goes to the accumulator, which may take its time.
	go a.askNext()
}

// askNext asks for the page after this one if a place is free, and reads it on its own
// goroutine rather than starting another: one goroutine fewer to wake per page.
func (a *lookahead) askNext() {
	if !a.r.tracker.tryReserve() {
		close(a.asked)
		return
	}
	next := a.r.newLookahead(a.ctx, a.head, a.gen)
	read := next.prepare()
	a.next = next
	close(a.asked)
	read()
}

// take waits for the page and returns it, with the page after it if that was asked for. Once
// the page is read nothing hears its position any more, and drain arms only pages it has not
// taken: asked and next change no more.
func (a *lookahead) take() (fetched, *lookahead) {
	f := <-a.done
	a.cancel()
	if a.asked != nil {
		<-a.asked // a place is being reserved, or the request sent: not for long
	}
	return f, a.next
}

// drop gives up on a page read ahead (the stream went elsewhere), the one after it if any,
// and their places. A request was sent for each: the spacing of requests counts it.
func (r *reader) drop(a *lookahead) {
	for a != nil {
		a.cancel()
		_, next := a.take()
		r.tracker.release()
		if a.started.After(r.lastGet) {
			r.lastGet = a.started
		}
		a = next
	}
}

// emit hands a page read at pos in generation gen to the accumulator, holding
// the place drain reserved, and reports whether the fetch position moved and
// whether the page held an event not read before.
// Events already read (Box repeats them) are dropped; a page longer than
// page_size becomes several tracking groups, so that no group is larger than
// the outputs were sized for. An empty page that brings a new position moves
// the stream on too: on a quiet or filtered stream the checkpoint would
// otherwise age past what Box keeps. Events that came without a position to
// resume from are emitted and the error says so.
func (r *reader) emit(ctx context.Context, page *boxevents.Page, pos boxevents.StreamPosition, gen uint64) (advanced, fresh bool, err error) {
	next := page.NextStreamPosition
	var unusable error
	if !next.Resumable() {
		if len(page.Entries) > 0 {
			// Never move past events on a position that cannot be resumed from. The events are
			// emitted; the error goes to the run's failure policy (one report per streak, a
			// backoff), as Box may keep answering so for a while.
			unusable = fmt.Errorf("box sent %d %s events without a usable next_stream_position (%q); the position stays at %s",
				len(page.Entries), r.cfg.stream, next, pos)
		}
		next = ""
	}
	if next == pos {
		next = ""
	}
	if len(page.Entries) == 0 && next == "" {
		r.tracker.release()
		return false, false, nil
	}

	b := r.newBatch()
	size := r.cfg.pageSize
	for first := 0; ; first += size {
		last := min(first+size, len(page.Entries))
		keys, metrics := b.convert(r, page.Entries[first:last])
		groupNext := boxevents.StreamPosition("")
		if last == len(page.Entries) {
			groupNext = next
		}
		if first > 0 {
			if err := r.tracker.reserve(ctx); err != nil {
				return false, false, err
			}
		}
		var alone *refusedEvent
		if len(metrics) == 1 && last-first == 1 && r.tracker.describeAlone() {
			// What the error names if the outputs refuse this event for good.
			ev := &page.Entries[first]
			alone = &refusedEvent{id: strings.Clone(ev.EventID), eventType: strings.Clone(ev.EventType),
				createdAt: strings.Clone(ev.CreatedAt), at: pos}
		}
		read := part{next: groupNext, keys: keys, emitted: len(metrics), entries: last - first, event: alone}
		pushed, moved := r.tracker.push(gen, read, func() (telegraf.TrackingID, bool) {
			if len(metrics) == 0 {
				return 0, false
			}
			return r.acc.AddTrackingMetricGroup(metrics), true
		})
		if !pushed {
			// A rewind happened while the page was read: it is read again.
			r.tracker.release()
			return false, false, nil
		}
		r.stats.emitted(len(metrics), b.newest)
		if moved {
			r.committed()
		}
		if last == len(page.Entries) {
			break
		}
	}
	b.report(r, len(page.Entries))
	r.stats.duplicatesDropped.Incr(int64(b.repeats))
	r.stats.eventsFiltered.Incr(int64(b.filtered))
	return next != "", b.repeats < len(page.Entries), unusable
}

// batch turns the events of one page into metrics and counts what deserves
// a word in the log, which then gets one line per page, not one per event.
type batch struct {
	now       time.Time
	floor     time.Time
	inPage    map[eventKey]struct{}
	repeats   int
	filtered  int       // left out by event_types or the start time
	newest    time.Time // the newest created_at of the group converted last
	untimed   int
	untimedID string
}

func (r *reader) newBatch() *batch {
	r.mu.Lock()
	floor := r.notBefore
	r.mu.Unlock()
	if len(r.inPage) > 2*r.cfg.pageSize {
		r.inPage = make(map[eventKey]struct{}, r.cfg.pageSize) // a page far longer than asked for: not kept
	} else {
		clear(r.inPage)
	}
	return &batch{now: r.clock.Now(), floor: floor, inPage: r.inPage}
}

// convert returns the keys of the events and the metrics of one group's events.
func (b *batch) convert(r *reader, events []boxevents.Event) ([]eventKey, []telegraf.Metric) {
	keys := make([]eventKey, 0, len(events))
	metrics := make([]telegraf.Metric, 0, len(events))
	b.newest = time.Time{}
	// Each id is hashed once, and the group's repeats are looked up under one lock.
	r.idKeys = r.idKeys[:0]
	for i := range events {
		var k eventKey
		if id := events[i].EventID; id != "" {
			k = keyOf(id)
		}
		r.idKeys = append(r.idKeys, k)
	}
	r.repeated = r.tracker.seenBefore(r.idKeys, r.repeated[:0])
	for i := range events {
		ev := &events[i]
		var offset time.Duration // pointKey(ev).subSecond(), from the id's key computed here anyway
		if ev.EventID != "" {
			k := r.idKeys[i]
			if _, dup := b.inPage[k]; dup || r.repeated[i] {
				b.repeats++
				continue
			}
			b.inPage[k] = struct{}{}
			keys = append(keys, k)
			offset = k.subSecond()
		}
		if r.cfg.typeFilter != nil && !r.cfg.typeFilter[ev.EventType] {
			b.filtered++
			continue
		}
		if ev.EventID == "" {
			offset = pointKey(ev).subSecond()
		}
		ts, timed := timeWithOffset(ev, offset)
		if !timed {
			// The second it was read, with the offset that keeps the page's events apart.
			ts = b.now.Truncate(time.Second).Add(offset)
			b.untimed++
			if b.untimedID == "" {
				b.untimedID = strings.Clone(ev.EventID)
			}
		} else if !b.floor.IsZero() && ts.Before(b.floor.Truncate(time.Second)) {
			b.filtered++
			continue
		} else if ts.After(b.newest) {
			b.newest = ts
		}
		metrics = append(metrics, r.conv.metric(ev, r.cfg.stream, ts))
	}
	r.conv.text.hold(len(metrics)) // each metric holds the page's text until given back
	return keys, metrics
}

// report logs what the page had that is worth a line.
func (b *batch) report(r *reader, n int) {
	if b.repeats > 0 {
		r.log.Debugf("Dropped %d repeated events of %d in a %s page", b.repeats, n, r.cfg.stream)
	}
	if b.untimed > 0 {
		r.log.Warnf("%d of %d events in a %s page had no usable created_at (first: event %q); they are timestamped with the time they were read",
			b.untimed, n, r.cfg.stream, b.untimedID)
	}
	if cut := r.conv.takeCut(); cut > 0 {
		r.log.Infof("Left out %d additional_details fields beyond %d per event in a %s page (event_json = true keeps whole events)",
			cut, maxDetailsFields, r.cfg.stream)
	}
}

// restart applies on_invalid_position after Box rejected the position and
// describes where the stream continues.
func (r *reader) restart() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backfill = nil
	r.mayBackfill = false // a restart goes where on_invalid_position says, never back to the start time
	switch r.cfg.onInvalid {
	case onInvalidNow:
		r.startAt = boxevents.PositionNow
		r.tracker.reset("")
		return "the current position"
	case onInvalidLookback:
		r.notBefore = r.clock.Now().Add(-r.cfg.lookback)
		if r.cfg.stream == boxevents.StreamAdminLogs {
			r.after = r.notBefore
		}
		r.tracker.reset("0")
		return "events since " + r.notBefore.UTC().Format(time.RFC3339)
	default:
		r.tracker.reset("0")
		return "the oldest events Box keeps"
	}
}

// sleep waits d on clk; it returns false when ctx ended first.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	t := clk.Timer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
