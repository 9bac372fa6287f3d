package box_events

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// Backoff of reading again after an output rejected a page: the output's
// buffer overflowed, and reading again at once would overflow it again.
// The wait doubles from a second.
const rewindBackoffMax = time.Minute

// isolateAfter is the rejection in a row (since the last commit) from which
// a rejected page is taken for one an output refuses for good (an event
// InfluxDB answers 400 or 422 for: older than the bucket's retention, a field
// of another type): the stream is then read in parts, each written alone,
// halved at every rejection down to one event, so that the parts the outputs
// accept are committed and the refusal narrows down to one event. A buffer
// that overflowed briefly rejects a page a few times, and is done before.
const isolateAfter = rejectsReported

// skipAfter is how many times an event written alone must be refused, each
// time followed by the event after it written alone and accepted, before it
// is skipped: the outputs work, and refuse that event. An outage (everything
// rejected) never gives that evidence, and a probe rejected starts it again.
const skipAfter = 3

// group is one tracking group handed to the accumulator: a Box page, or a
// part of a page longer than page_size.
type group struct {
	id      telegraf.TrackingID
	tracked bool                     // false when nothing was emitted: nothing to wait for
	next    boxevents.StreamPosition // position to commit once delivered; "" keeps the previous one
	keys    []eventKey               // events read with the group (emitted or filtered)
	done    bool                     // delivered, waiting for older groups or the commit delay
	doneAt  time.Time                // when it was delivered
	stale   bool                     // dropped by a rewind; only its delivery notice is awaited
	kept    bool                     // stale, its events pending until its notice says whether they were delivered
	weight  int                      // events it holds in the window: those emitted, at least 1
	entries int                      // Box events it covers: emitted, filtered or repeated
	// event describes the group's one event when it was read alone while
	// isolating a refused event (see tracker.isolating); nil otherwise.
	event *refusedEvent
	held  bool // refused alone: kept at the front while the events after it are probed
}

// refusedEvent says which event an output refused, for the operator who
// recovers it from Box.
type refusedEvent struct {
	id, eventType, createdAt string
	at                       boxevents.StreamPosition // the position it is read from
}

// suspect is an event refused alone at the committed position, and the
// evidence gathered that the outputs refuse it, not everything: the events
// after it, written alone after each of its refusals, were accepted.
type suspect struct {
	id       string // event_id
	at       boxevents.StreamPosition
	probing  bool // refused; the events after it are being written
	evidence int  // refusals each followed by an accepted probe, in a row
}

// tracker commits stream positions in order, the way kafka_consumer commits
// offsets: the committed position moves only when the oldest group in flight
// has been delivered. A rejected group rewinds the fetch position to the
// committed one; a streak of rejections isolates the event the outputs
// refuse, and skips it once they are seen to accept the events after it
// (isolating, hold). With a commit delay a delivered group is committed only once
// it has been delivered for that long (see commit_delay). It does no I/O and
// starts no goroutines.
type tracker struct {
	clock     clock.Clock
	delay     time.Duration
	mu        sync.Mutex
	committed boxevents.StreamPosition // delivered to every output
	movedAt   time.Time                // when committed last changed; zero: not since start
	fetch     boxevents.StreamPosition // where the next page is read from
	gen       uint64                   // bumped by every rewind
	seen      *idWindow                // events of committed groups, and pending: those of groups not yet committed
	queue     []*group                 // groups in flight, oldest first
	byID      map[telegraf.TrackingID]*group
	// rejects counts rewinds since the last commit; rejectedAt is the last.
	rejects    int
	rejectedAt time.Time
	// isolating is set once a page was rejected isolateAfter times in a row:
	// pages are read limit events at a time (halved by every rejection,
	// doubled by every commit), one group in flight at a time, so that each
	// is written alone. It ends with a commit of a whole page (limit back at
	// page_size).
	isolating bool
	limit     int
	suspect   *suspect        // the event refused alone at the committed position, if any
	skipped   []*refusedEvent // skipped as refused for good, not yet reported

	// used counts the events not yet committed, bounded by window: the
	// events the outputs may hold without the position being saved behind
	// them. A group weighs the events it emitted (at least 1, so that groups
	// of filtered events or repeats are bounded too); a page not read yet
	// holds page_size, the most it can bring, until it is pushed. A group
	// gives its events back when committed (under commit_delay that is
	// commit_delay after it was written, so page_size × max_undelivered_pages
	// events at most sit uncommitted in Telegraf, however small the pages),
	// or, once dropped by a rewind, when its notice arrived.
	used int
	// window is how many events may be uncommitted now: page_size ×
	// max_undelivered_pages, cut to one page (page_size) when an output
	// rejected a group (its buffer overflowed) and doubled with every commit
	// after that, so that reading again does not overflow the same buffer
	// with the same pages for ever.
	window, maxWindow int
	pageSize          int
	// notices counts the groups whose delivery notice has not been applied
	// yet (and pages reserved but not pushed), bounded by maxNotices: the
	// tracking accumulator is made with that size (noticeCapacity) and
	// panics when more are queued. A group delivered but not yet committed
	// (under commit_delay) no longer needs a notice: only events bound it.
	notices, maxNotices int
	freed               chan struct{} // closed and replaced when a place is freed
	// rewound is signalled after a rewind so a fetcher waiting on a long poll
	// with a position that is no longer current can give up on it.
	rewound chan struct{}
}

// maxNoticeCapacity caps the delivery notices outstanding: Telegraf's
// tracking accumulator allocates 16 bytes per notice it can hold, up front.
const maxNoticeCapacity = 10_000

// newTracker returns a tracker that lets page_size × maxPages events be
// uncommitted, with as many delivery notices outstanding (every group holds
// at least one event), up to maxNoticeCapacity, and remembers dedupWindow
// committed events. Compiled into Telegraf a notice comes only once an output
// wrote the group, after a flush: counting notices in max_undelivered_pages
// groups stopped a user stream, whose pages hold an event or a few, for a
// flush interval every max_undelivered_pages events.
func newTracker(clk clock.Clock, delay time.Duration, pageSize, maxPages, dedupWindow int) *tracker {
	return &tracker{
		clock:      clk,
		delay:      delay,
		seen:       newIDWindow(dedupWindow),
		byID:       make(map[telegraf.TrackingID]*group),
		window:     pageSize * maxPages,
		maxWindow:  pageSize * maxPages,
		pageSize:   pageSize,
		limit:      pageSize,
		maxNotices: min(pageSize*maxPages, maxNoticeCapacity),
		freed:      make(chan struct{}),
		rewound:    make(chan struct{}, 1),
	}
}

// noticeCapacity is how many delivery notices may be outstanding: the size
// of the tracking accumulator (acc.WithTracking).
func (t *tracker) noticeCapacity() int { return t.maxNotices }

// fits reports whether one more page (page_size events, one notice) can be
// read now. While isolating a refused event a page is read only once every
// group read before was delivered (or rejected): Telegraf writes the metrics
// of several groups in one batch, and outputs.influxdb_v2 rejects a whole
// batch. Called locked.
func (t *tracker) fits() bool {
	if t.isolating {
		return t.notices == 0 && t.used+t.pageSize <= t.maxWindow
	}
	return t.used+t.pageSize <= t.window && t.notices < t.maxNotices
}

// pageLimit returns how many events to ask Box for in a page: page_size, less
// while isolating a refused event.
func (t *tracker) pageLimit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// describeAlone reports whether a group of one event should carry its
// description (push's event): only while isolating one, with pages of one.
func (t *tracker) describeAlone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.isolating && t.limit == 1
}

// reserve takes a place for one more page, waiting while the window is full.
func (t *tracker) reserve(ctx context.Context) error {
	for {
		t.mu.Lock()
		if t.fits() {
			t.used += t.pageSize
			t.notices++
			t.mu.Unlock()
			return nil
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryReserve takes a place for one more page if one is free, without waiting.
func (t *tracker) tryReserve() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fits() {
		t.used += t.pageSize
		t.notices++
		return true
	}
	return false
}

// release gives back a place taken by reserve for a page that was not pushed.
func (t *tracker) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseLocked(t.pageSize, 1)
}

// releaseLocked gives back events and notices and wakes reserve.
func (t *tracker) releaseLocked(events, notices int) {
	if events == 0 && notices == 0 {
		return
	}
	t.used -= events
	t.notices -= notices
	close(t.freed)
	t.freed = make(chan struct{})
}

// position returns the position to fetch from and the generation it belongs to.
func (t *tracker) position() (boxevents.StreamPosition, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fetch, t.gen
}

// start sets both positions when there is nothing in flight, e.g. after
// resolving "now" or restoring state.
func (t *tracker) start(pos boxevents.StreamPosition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.committed, t.fetch = pos, pos
	t.movedAt = t.clock.Now()
}

// seenBefore appends to seen whether each event of keys was already read, committed or not:
// a group's events under one lock, which the goroutines that deliver and read ahead take too.
func (t *tracker) seenBefore(keys []eventKey, seen []bool) []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		seen = append(seen, t.seen.Contains(k))
	}
	return seen
}

// part is what push records of a group read: the position to commit once it
// is delivered ("" keeps the previous one), the keys of its events (emitted
// or filtered), how many it emitted out of the page's entries it covers (the
// rest were repeats or filtered out), and its one event's description when
// describeAlone asked for it.
type part struct {
	next             boxevents.StreamPosition
	keys             []eventKey
	emitted, entries int
	event            *refusedEvent
}

// push records a group read in generation gen, holding the place taken with
// reserve; the place shrinks to the group's weight (the events it emitted).
// emit hands the group's metrics to the accumulator and is called with the
// tracker locked, so a delivery notice cannot overtake the bookkeeping; it
// reports false when there was nothing to track (the group is then delivered
// at once, and moved says whether that committed a new position). push
// reports pushed false, without calling emit, when a rewind happened since
// the page was read: the caller must drop the group and release its place.
func (t *tracker) push(gen uint64, p part, emit func() (telegraf.TrackingID, bool)) (pushed, moved bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		return false, false
	}
	next, keys := p.next, p.keys
	g := &group{next: next, keys: keys, weight: min(max(p.emitted, 1), t.pageSize), entries: p.entries, event: p.event}
	g.id, g.tracked = emit()
	unused := 0 // no notice comes for a group with nothing to track
	if !g.tracked {
		unused = 1
	}
	t.releaseLocked(t.pageSize-g.weight, unused)
	if next != "" {
		t.fetch = next
	}
	for _, k := range keys {
		t.seen.AddPending(k)
	}
	t.queue = append(t.queue, g)
	if g.tracked {
		t.byID[g.id] = g
		return true, false
	}
	g.done, g.doneAt = true, t.clock.Now()
	return true, t.advance()
}

// delivered applies a delivery notice. It reports whether the committed
// position moved, and whether the notice was a rejection that rewound the
// fetch position. An event it skipped as refused for good is taken with
// takeSkipped.
func (t *tracker) delivered(id telegraf.TrackingID, ok bool) (moved, rewound bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, found := t.byID[id]
	if !found {
		return false, false
	}
	delete(t.byID, id)
	if g.stale {
		t.releaseLocked(g.weight, 1)
		if g.kept {
			t.settle(g.keys, ok)
		}
		return false, false
	}
	if !ok {
		// Read again from the committed position, one page at a time until
		// the next commit. The rejected group's place is free now; the others
		// in flight are dropped.
		t.releaseLocked(g.weight, 1)
		t.rejects++
		t.rejectedAt = t.clock.Now()
		t.window = t.pageSize
		if !t.isolating && t.rejects >= isolateAfter {
			t.isolating = true
		}
		if t.isolating {
			if t.hold(g) {
				return false, true
			}
			t.limit = max(min(t.limit, g.entries)/2, 1)
		}
		if s := t.suspect; s != nil && s.probing {
			// The event after the refused one was rejected too: no sign that
			// the outputs work (an outage rejects everything).
			s.probing, s.evidence = false, 0
		}
		// Its events are read again; the other groups' notices still come.
		t.settle(g.keys, false)
		t.queue = slices.DeleteFunc(t.queue, func(q *group) bool { return q == g })
		t.drop(true)
		t.fetch = t.committed
		return false, true
	}
	t.releaseLocked(0, 1) // its events stay until it is committed
	g.done, g.doneAt = true, t.clock.Now()
	if s := t.suspect; s != nil && s.probing && len(t.queue) > 0 && t.queue[0].held && g != t.queue[0] {
		// The event after the one refused alone was accepted alone: the
		// outputs work.
		s.probing = false
		s.evidence++
		front := t.queue[0]
		if s.evidence < skipAfter {
			// The refused event is written alone again; the events accepted
			// after it are kept as delivered, and dropped as repeats when read
			// again.
			t.drop(true)
			t.fetch = t.committed
			return false, false
		}
		front.held = false
		front.done, front.doneAt = true, g.doneAt
		t.skipped = append(t.skipped, front.event)
		return t.advance(), false
	}
	return t.advance(), false
}

// takeSkipped returns the events skipped as refused for good since it was
// last called.
func (t *tracker) takeSkipped() []*refusedEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.skipped
	t.skipped = nil
	return s
}

// hold keeps a group of one event, refused while isolating, at the front of
// the queue without committing it, and moves the fetch position past it:
// the events after it are read and written alone, each a probe of whether
// the outputs accept anything (see skipAfter). It reports false, without
// changing anything, for a group that is not one event alone at the
// committed position. Called locked, once the group's place was released.
func (t *tracker) hold(g *group) bool {
	if g.event == nil || g.next == "" || len(t.queue) != 1 || t.queue[0] != g || t.notices != 0 {
		return false
	}
	g.event.at = t.committed
	s := t.suspect
	if s == nil || s.at != t.committed || s.id != g.event.id {
		s = &suspect{id: g.event.id, at: t.committed}
		t.suspect = s
	}
	s.probing = true
	g.held, g.weight = true, 0
	t.limit = 1
	t.fetch = g.next
	t.gen++
	t.signalRewound()
	return true
}

// commitAged commits delivered groups that have aged past the commit delay
// and reports whether the committed position moved.
func (t *tracker) commitAged() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.advance()
}

// advance commits delivered groups from the front of the queue and gives
// their events back. Called locked.
func (t *tracker) advance() bool {
	moved := false
	now := t.clock.Now()
	for len(t.queue) > 0 && t.queue[0].done && now.Sub(t.queue[0].doneAt) >= t.delay {
		g := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		t.releaseLocked(g.weight, 0)
		for _, k := range g.keys {
			t.seen.Commit(k)
		}
		if g.next != "" && g.next != t.committed {
			t.committed = g.next
			t.movedAt = now
			t.rejects = 0
			t.window = min(t.window*2, t.maxWindow)
			moved = true
		}
	}
	if moved {
		t.suspect = nil
		if t.isolating {
			// Parts grow back as they are accepted; a whole page accepted ends
			// the isolation.
			t.isolating = t.limit < t.pageSize
			t.limit = min(t.limit*2, t.pageSize)
		}
	}
	return moved
}

// drop forgets every group in flight. With keep (after a rejection, or to
// write a refused event again; compiled in, without commit_delay, where a
// delivered group is in every output) the events of the groups already
// delivered are kept as read (committed into seen, saved with the state),
// and those of the groups still waiting for their notice stay pending until
// it comes (settle): either way an event an output took is dropped as a
// repeat when read again rather than written twice. That is safe because
// nothing is read again before every dropped group's notice came: a
// rejection cuts the window to one page, and a dropped group holds its
// events in it until its notice (while isolating, its notice). Called locked.
func (t *tracker) drop(keep bool) {
	keep = keep && t.delay == 0
	for _, g := range t.queue {
		switch {
		case g.held: // its place was freed when it was refused
			t.settle(g.keys, false)
		case g.done:
			t.settle(g.keys, keep)
			t.releaseLocked(g.weight, 0) // delivered, only waiting to be committed
		default:
			g.stale = true // its notice will still come; its place is freed then
			g.kept = keep
			if !keep {
				t.settle(g.keys, false)
			}
		}
	}
	t.queue = t.queue[:0]
	t.gen++
	t.signalRewound()
}

// settle commits pending events into seen when they were delivered, and
// forgets them (to be read again) when not. Called locked.
func (t *tracker) settle(keys []eventKey, delivered bool) {
	for _, k := range keys {
		if delivered {
			t.seen.Commit(k)
		} else {
			t.seen.Forget(k) // read again
		}
	}
}

// signalRewound wakes a fetcher waiting on a long poll with a position that
// is no longer the one to read from.
func (t *tracker) signalRewound() {
	select {
	case t.rewound <- struct{}{}:
	default:
	}
}

// rewindWait returns how much longer reading must wait after the outputs
// rejected a group, and how many rejections happened since the last commit.
// The wait doubles with every rejection since the last commit, so that a
// full output buffer is not refilled at once; it ends with the next commit.
func (t *tracker) rewindWait() (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rejects == 0 {
		return 0, 0
	}
	d := doubling(t.rejects, rewindBackoffMax)
	return max(t.rejectedAt.Add(d).Sub(t.clock.Now()), 0), t.rejects
}

// snapshot returns the committed position and the committed events.
func (t *tracker) snapshot() (boxevents.StreamPosition, []eventKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed, t.seen.Keys()
}

// committedPosition returns the committed position.
func (t *tracker) committedPosition() boxevents.StreamPosition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed
}

// committedAt returns when the committed position last moved (a commit, a
// new start); zero if it did not since the tracker was made.
func (t *tracker) committedAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.movedAt
}

// reset drops every group in flight and restarts from pos ("" to resolve the
// start position again), keeping the committed event ids.
func (t *tracker) reset(pos boxevents.StreamPosition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop(false)
	t.suspect, t.isolating, t.limit = nil, false, t.pageSize
	t.committed, t.fetch = pos, pos
	t.movedAt = t.clock.Now()
}

// restore loads a committed position and events, before anything is read.
func (t *tracker) restore(pos boxevents.StreamPosition, keys []eventKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.committed, t.fetch = pos, pos
	for _, k := range keys {
		t.seen.Add(k)
	}
}

// inFlight returns the number of groups not yet committed.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}
