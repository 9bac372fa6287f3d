package box_events

import (
	"context"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// page is one Events API page handed to the accumulator as a tracking group.
type page struct {
	id      telegraf.TrackingID
	tracked bool                     // false when every event was a repeat: nothing to wait for
	next    boxevents.StreamPosition // position to commit once delivered; "" keeps the previous one
	ids     []string                 // event ids emitted with the page
	done    bool                     // delivered (its slot is free), waiting for older pages or the commit delay
	doneAt  time.Time                // when it was delivered
	stale   bool                     // dropped by a rewind; only its delivery notice is awaited
}

// tracker commits stream positions in page order, the way kafka_consumer
// commits offsets: the committed position moves only when the oldest page in
// flight has been delivered. A rejected page rewinds the fetch position to the
// committed one. With a commit delay, a delivered page is committed only once
// it has been delivered for that long (see commit_delay). It does no I/O and
// starts no goroutines.
type tracker struct {
	clock     clock.Clock
	delay     time.Duration
	mu        sync.Mutex
	committed boxevents.StreamPosition // delivered to every output
	fetch     boxevents.StreamPosition // where the next page is read from
	gen       uint64                   // bumped by every rewind
	seen      *idWindow                // ids of committed pages
	inflight  map[string]struct{}      // ids of pages not yet committed
	queue     []*page                  // pages in flight, oldest first
	byID      map[telegraf.TrackingID]*page

	// slots bounds the pages not yet delivered (and so the notices the
	// tracking accumulator may have to queue: more than it was sized for
	// panics). A page gives its slot back when delivered, not when
	// committed: waiting out commit_delay must not stop reading.
	slots chan struct{}
	// rewound is signalled after a rewind so a fetcher waiting on a long poll
	// with a position that is no longer current can give up on it.
	rewound chan struct{}
}

func newTracker(clk clock.Clock, delay time.Duration, maxPages, window int) *tracker {
	return &tracker{
		clock:    clk,
		delay:    delay,
		seen:     newIDWindow(window),
		inflight: make(map[string]struct{}),
		byID:     make(map[telegraf.TrackingID]*page),
		slots:    make(chan struct{}, maxPages),
		rewound:  make(chan struct{}, 1),
	}
}

// reserve takes a slot for one more page, waiting while maxPages are in flight.
func (t *tracker) reserve(ctx context.Context) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives back a slot taken by reserve for a page that was not pushed.
func (t *tracker) release() {
	<-t.slots
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
}

// seenBefore reports whether an event id was already emitted, committed or not.
func (t *tracker) seenBefore(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen.Contains(id) {
		return true
	}
	_, ok := t.inflight[id]
	return ok
}

// push records a page fetched in generation gen. emit hands the page's metrics
// to the accumulator and is called with the tracker locked, so a delivery
// notice cannot overtake the bookkeeping; it reports false when there was
// nothing to track. push reports false, without calling emit, when a rewind
// happened since the page was fetched: the caller must drop the page and
// release its slot.
func (t *tracker) push(gen uint64, next boxevents.StreamPosition, ids []string, emit func() (telegraf.TrackingID, bool)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		return false
	}
	p := &page{next: next, ids: ids}
	p.id, p.tracked = emit()
	if next != "" {
		t.fetch = next
	}
	for _, id := range ids {
		t.inflight[id] = struct{}{}
	}
	t.queue = append(t.queue, p)
	if p.tracked {
		t.byID[p.id] = p
	} else {
		p.done, p.doneAt = true, t.clock.Now()
		t.release()
		t.advance()
	}
	return true
}

// delivered applies a delivery notice. It reports whether the committed
// position moved, and whether the notice was a rejection that rewound the
// fetch position.
func (t *tracker) delivered(id telegraf.TrackingID, ok bool) (moved, rewound bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, found := t.byID[id]
	if !found {
		return false, false
	}
	delete(t.byID, id)
	if p.stale {
		t.release()
		return false, false
	}
	if !ok {
		// Read again from the committed position. The rejected page's notice
		// is in; the others still in flight are dropped.
		t.release()
		t.drop()
		t.fetch = t.committed
		return false, true
	}
	p.done, p.doneAt = true, t.clock.Now()
	t.release()
	return t.advance(), false
}

// commitAged commits delivered pages that have aged past the commit delay
// and reports whether the committed position moved.
func (t *tracker) commitAged() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.advance()
}

// advance commits delivered pages from the front of the queue. Called locked.
func (t *tracker) advance() bool {
	moved := false
	now := t.clock.Now()
	for len(t.queue) > 0 && t.queue[0].done && now.Sub(t.queue[0].doneAt) >= t.delay {
		p := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		for _, id := range p.ids {
			delete(t.inflight, id)
			t.seen.Add(id)
		}
		if p.next != "" && p.next != t.committed {
			t.committed = p.next
			moved = true
		}
	}
	return moved
}

// drop forgets every page in flight. Called locked.
func (t *tracker) drop() {
	for _, p := range t.queue {
		if !p.done {
			// Its notice will still come; the slot is freed then.
			p.stale = true
		}
	}
	t.queue = t.queue[:0]
	clear(t.inflight)
	t.gen++
	select {
	case t.rewound <- struct{}{}:
	default:
	}
}

// snapshot returns the committed position and the committed event ids.
func (t *tracker) snapshot() (boxevents.StreamPosition, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.committed, t.seen.IDs()
}

// reset drops every page in flight and restarts from pos ("" to resolve the
// start position again), keeping the committed event ids.
func (t *tracker) reset(pos boxevents.StreamPosition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop()
	t.committed, t.fetch = pos, pos
}

// restore loads a committed position and event ids, before any page is fetched.
func (t *tracker) restore(pos boxevents.StreamPosition, ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.committed, t.fetch = pos, pos
	for _, id := range ids {
		t.seen.Add(id)
	}
}

// inFlight returns the number of pages not yet committed.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}
