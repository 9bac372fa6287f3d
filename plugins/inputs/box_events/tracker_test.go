package box_events

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// seen reports whether the tracker counts the event with this id as read.
func seen(tr *tracker, id string) bool {
	return tr.seenBefore([]eventKey{keyOf(id)}, nil)[0]
}

// pushPage reserves a slot and pushes a page with the given ids, returning
// its tracking id (ids count up from 1 like the agent's).
func pushPage(t *testing.T, tr *tracker, next string, ids ...string) telegraf.TrackingID {
	t.Helper()
	require.NoError(t, tr.reserve(context.Background()))
	_, gen := tr.position()
	var tid telegraf.TrackingID
	keys := make([]eventKey, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, keyOf(id))
	}
	ok, _ := tr.push(gen, part{next: boxevents.StreamPosition(next), keys: keys, emitted: len(ids), entries: len(ids)}, func() (telegraf.TrackingID, bool) {
		if len(ids) == 0 {
			return 0, false
		}
		tid = telegraf.TrackingID(len(tr.byID) + int(tr.gen)*1000 + len(tr.queue) + 1)
		return tid, true
	})
	require.True(t, ok)
	return tid
}

func TestTracker_CommitsInOrder(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 4, 100)
	tr.start("100")
	first := pushPage(t, tr, "200", "a", "b")
	second := pushPage(t, tr, "300", "c")

	pos, _ := tr.position()
	require.Equal(t, boxevents.StreamPosition("300"), pos, "fetching goes on ahead of delivery")

	// The newer page is delivered first: nothing can be committed yet.
	moved, rewound := tr.delivered(second, true)
	require.False(t, moved)
	require.False(t, rewound)
	committed, _ := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("100"), committed)

	moved, _ = tr.delivered(first, true)
	require.True(t, moved)
	committed, keys := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("300"), committed)
	require.Equal(t, []eventKey{keyOf("a"), keyOf("b"), keyOf("c")}, keys)
	require.Zero(t, tr.inFlight())
	require.Zero(t, tr.used, "every place is given back")
}

func TestTracker_RejectRewinds(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 4, 100)
	tr.start("100")
	first := pushPage(t, tr, "200", "a")
	second := pushPage(t, tr, "300", "b")
	third := pushPage(t, tr, "400", "c")

	moved, _ := tr.delivered(first, true)
	require.True(t, moved)
	_, rewound := tr.delivered(second, false)
	require.True(t, rewound)

	pos, gen := tr.position()
	require.Equal(t, boxevents.StreamPosition("200"), pos, "read again from the committed position")
	require.False(t, seen(tr, "b"), "events of rejected pages are forgotten so they are emitted again")
	require.True(t, seen(tr, "c"), "the third page waits for its notice (nothing is read before it came)")
	require.True(t, seen(tr, "a"))
	require.Len(t, tr.rewound, 1)

	// A page fetched before the rewind is refused.
	pushed, _ := tr.push(gen-1, part{next: "999", keys: []eventKey{keyOf("x")}, emitted: 1, entries: 1}, func() (telegraf.TrackingID, bool) {
		t.Fatal("emit must not be called for a stale page")
		return 0, false
	})
	require.False(t, pushed)

	// The third page's notice still arrives and frees its place.
	require.Equal(t, 1, tr.used)
	moved, rewound = tr.delivered(third, true)
	require.False(t, moved)
	require.False(t, rewound)
	require.Zero(t, tr.used)
	require.True(t, seen(tr, "c"), "delivered: dropped as a repeat when read again, not written twice")
	committed, _ := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("200"), committed)

	// Until the next commit one page at a time is read, and reading waits.
	require.Equal(t, tr.pageSize, tr.window, "the window is cut to one page")
	wait, rejects := tr.rewindWait()
	require.Equal(t, time.Second, wait)
	require.Equal(t, 1, rejects)
	again := pushPage(t, tr, "300", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tr.reserve(ctx), context.Canceled, "the window is one page")
	moved, _ = tr.delivered(again, true)
	require.True(t, moved)
	require.Equal(t, 2*tr.pageSize, tr.window, "each commit doubles the window")
	wait, rejects = tr.rewindWait()
	require.Zero(t, wait)
	require.Zero(t, rejects)
}

func TestTracker_RewindBackoffDoubles(t *testing.T) {
	mock := clock.NewMock()
	tr := newTracker(mock, 0, 2, 4, 100)
	tr.start("1")
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		id := pushPage(t, tr, strconv.Itoa(i+2), "x")
		_, rewound := tr.delivered(id, false)
		require.True(t, rewound)
		wait, rejects := tr.rewindWait()
		require.Equal(t, want, wait)
		require.Equal(t, i+1, rejects)
		mock.Add(wait / 2)
		wait, _ = tr.rewindWait()
		require.Equal(t, want/2, wait, "the wait counts from the rejection")
	}
}

func TestTracker_EmptyPageCommitsWhenItsTurnComes(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 4, 100)
	tr.start("100")
	first := pushPage(t, tr, "200", "a")
	pushPage(t, tr, "300") // only repeats: nothing to track
	committed, _ := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("100"), committed, "must wait for the older page")

	moved, _ := tr.delivered(first, true)
	require.True(t, moved)
	committed, _ = tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("300"), committed)
}

func TestTracker_UnusablePositionKeepsCommitted(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 2, 100)
	tr.start("100")
	id := pushPage(t, tr, "", "a")
	moved, _ := tr.delivered(id, true)
	require.False(t, moved)
	committed, _ := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("100"), committed)
	require.True(t, seen(tr, "a"))
}

func TestTracker_ReserveBlocksWhenFull(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 1, 1, 10)
	tr.start("1")
	pushPage(t, tr, "2", "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tr.reserve(ctx), context.Canceled)
}

func TestTracker_RestoreAndUnknownNotice(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 2, 3)
	tr.restore("1152922976252290886", []eventKey{1, 2, 3, 4})
	pos, keys := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("1152922976252290886"), pos)
	require.Equal(t, []eventKey{2, 3, 4}, keys, "the window keeps only the newest events")
	moved, rewound := tr.delivered(telegraf.TrackingID(12345), false)
	require.False(t, moved)
	require.False(t, rewound)
}

func TestIDWindow(t *testing.T) {
	w := newIDWindow(3)
	for i := range 5 {
		w.Add(eventKey(i))
	}
	w.Add(4)
	require.Equal(t, 3, w.Len())
	require.False(t, w.Contains(1))
	require.True(t, w.Contains(2))
	require.Equal(t, []eventKey{2, 3, 4}, w.Keys())

	keys, err := decodeKeys(encodeKeys(w.Keys()))
	require.NoError(t, err)
	require.Equal(t, w.Keys(), keys)
	_, err = decodeKeys("abc")
	require.Error(t, err)
	require.NotEqual(t, keyOf("a"), keyOf("b"))
	require.Equal(t, keyOf(strconv.Itoa(7)), keyOf("7"))
}

// Under commit_delay a delivered page keeps its place until it is committed:
// page_size × max_undelivered_pages bounds the events Telegraf may hold
// uncommitted.
func TestTracker_CommitDelayHoldsPlacesUntilCommitted(t *testing.T) {
	mock := clock.NewMock()
	tr := newTracker(mock, 30*time.Second, 1, 2, 100)
	tr.start("1")
	first := pushPage(t, tr, "2", "a")
	moved, _ := tr.delivered(first, true)
	require.False(t, moved, "delivered, but not for commit_delay yet")
	second := pushPage(t, tr, "3", "b")
	moved, _ = tr.delivered(second, true)
	require.False(t, moved)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, tr.reserve(ctx), context.Canceled, "two delivered full pages still hold the whole window")

	mock.Add(29 * time.Second)
	require.False(t, tr.commitAged())
	mock.Add(time.Second)
	require.True(t, tr.commitAged())
	committed, keys := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("3"), committed)
	require.Equal(t, []eventKey{keyOf("a"), keyOf("b")}, keys)
	require.Zero(t, tr.used)
}

// A state saved by a version that kept event ids still restores its window.
func TestState_LegacyRecentEventIDs(t *testing.T) {
	p := newPlugin(boxsim.New(boxsim.Options{}), "admin_logs_streaming")
	p.BaseURL = "https://api.box.com"
	require.NoError(t, p.Init())
	require.NoError(t, p.SetState(State{StreamType: "admin_logs_streaming", StreamPosition: "5", RecentEventIDs: []string{"a", "b"}}))
	require.True(t, seen(p.tracker, "a"))
	require.True(t, seen(p.tracker, "b"))
	require.False(t, seen(p.tracker, "c"))
	require.Error(t, p.SetState(State{StreamType: "admin_logs_streaming", StreamPosition: "5", RecentEvents: "!!"}))
}

// Both bounds count events. A group awaiting its delivery notice holds its
// events like one awaiting its commit: compiled in, a notice comes only after
// an output's flush, and counting notices in max_undelivered_pages groups
// stopped a user stream of one-event pages for a flush interval every few
// events. The notices stop at maxNoticeCapacity, the size of Telegraf's
// tracking accumulator, which allocates it up front.
func TestTracker_WindowCountsEventsNoticesFollow(t *testing.T) {
	mock := clock.NewMock()
	tr := newTracker(mock, 30*time.Second, 4, 3, 100) // 12 events
	require.Equal(t, 12, tr.noticeCapacity())
	tr.start("0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	// Eight undelivered one-event groups: more than max_undelivered_pages
	// wait for their notice, and a full page more still fits: 8 + 4 = 12.
	ids := make([]telegraf.TrackingID, 0, 9)
	for i := range 8 {
		ids = append(ids, pushPage(t, tr, strconv.Itoa(i+1), "u"+strconv.Itoa(i)))
	}
	require.Equal(t, 8, tr.used)
	require.Equal(t, 8, tr.notices)
	ids = append(ids, pushPage(t, tr, "9", "f1", "f2", "f3", "f4"))
	require.Equal(t, 12, tr.used)
	require.ErrorIs(t, tr.reserve(ctx), context.Canceled, "page_size × max_undelivered_pages events undelivered")
	require.False(t, tr.tryReserve())

	// Delivered, not committed: their events stay, their notices are done.
	for _, id := range ids {
		moved, _ := tr.delivered(id, true)
		require.False(t, moved)
	}
	require.Zero(t, tr.notices)
	require.Equal(t, 9, tr.inFlight(), "more groups than max_undelivered_pages are uncommitted")
	require.ErrorIs(t, tr.reserve(ctx), context.Canceled, "page_size × max_undelivered_pages events uncommitted")

	mock.Add(30 * time.Second)
	require.True(t, tr.commitAged())
	require.Zero(t, tr.used)
	require.Zero(t, tr.notices)
	committed, _ := tr.snapshot()
	require.Equal(t, boxevents.StreamPosition("9"), committed)

	// A larger window: the notices stop at maxNoticeCapacity.
	big := newTracker(mock, 0, 500, 30, 100) // 15,000 events
	require.Equal(t, maxNoticeCapacity, big.noticeCapacity())
	big.start("0")
	for i := range maxNoticeCapacity {
		pushPage(t, big, strconv.Itoa(i+1), "b"+strconv.Itoa(i))
	}
	require.Equal(t, maxNoticeCapacity, big.used)
	require.False(t, big.tryReserve(), "maxNoticeCapacity notices outstanding")
}

// A page not read yet holds page_size until it is pushed, then only what it
// emitted (at least 1).
func TestTracker_ReservedPageShrinksToItsEvents(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 5, 2, 100)
	tr.start("0")
	require.NoError(t, tr.reserve(context.Background()))
	require.Equal(t, 5, tr.used)
	_, gen := tr.position()
	pushed, _ := tr.push(gen, part{next: "1", keys: []eventKey{keyOf("r")}, entries: 1}, func() (telegraf.TrackingID, bool) { return 0, false })
	require.True(t, pushed)
	require.Zero(t, tr.used, "nothing to track: delivered and committed at once")
	require.NoError(t, tr.reserve(context.Background()))
	tr.release()
	require.Zero(t, tr.used)
	require.Zero(t, tr.notices)
}

// The window and the pending keys share one set: against a model that keeps them apart (the
// committed keys' window, and a map of pending ones), random reads, commits, forgets and
// restores leave the same answers and the same window.
func TestIDWindow_PendingKeysAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, capacity := range []int{1, 3, 50} {
		w := newIDWindow(capacity)
		var window []eventKey // committed, oldest first, at most capacity
		pending := make(map[eventKey]bool)
		var order []eventKey // pending keys in the order read
		contains := func(k eventKey) bool { return pending[k] || slices.Contains(window, k) }
		commit := func(k eventKey) {
			window = append(window, k)
			if len(window) > capacity {
				window = window[1:]
			}
		}
		for step := range 20000 {
			k := eventKey(rng.IntN(4 * capacity))
			switch op := rng.IntN(10); {
			case op < 5: // a page's event: read unless seen
				require.Equal(t, contains(k), w.Contains(k), "step %d", step)
				if !contains(k) {
					w.AddPending(k)
					pending[k] = true
					order = append(order, k)
				}
			case op < 8 && len(order) > 0: // the oldest group is committed
				first := order[0]
				order = order[1:]
				delete(pending, first)
				w.Commit(first)
				commit(first)
			case op < 9: // a rewind forgets every pending key
				for _, p := range order {
					w.Forget(p)
				}
				order, pending = nil, make(map[eventKey]bool)
			default: // a restored key
				if !contains(k) {
					commit(k)
				}
				w.Add(k)
			}
			if len(window) == 0 {
				require.Empty(t, w.Keys(), "step %d", step)
			} else {
				require.Equal(t, window, w.Keys(), "step %d", step)
			}
			require.Equal(t, len(window), w.Len())
			require.Len(t, w.set, len(window)+len(pending), "nothing else kept")
		}
	}
}

// pushAlone pushes a part read while isolating a refused event: one event
// with its description, or (no id) a page of repeats that emitted nothing.
func pushAlone(t *testing.T, tr *tracker, tid telegraf.TrackingID, next, id string) {
	t.Helper()
	require.NoError(t, tr.reserve(context.Background()))
	pos, gen := tr.position()
	p := part{next: boxevents.StreamPosition(next), entries: 1}
	if id != "" {
		require.True(t, tr.describeAlone())
		p.keys, p.emitted = []eventKey{keyOf(id)}, 1
		p.event = &refusedEvent{id: id, eventType: "LOGIN", createdAt: "2026-12-07T10:00:00Z", at: pos}
	}
	ok, _ := tr.push(gen, p, func() (telegraf.TrackingID, bool) { return tid, id != "" })
	require.True(t, ok)
}

// An event is skipped only once it was refused alone skipAfter times in a
// row, each time followed by the event after it accepted alone. A probe
// rejected (an output that fails every other write, an outage beginning)
// starts the count again; the events accepted as probes are never written
// twice, and nothing is committed past the refused event before it is
// skipped.
func TestTracker_RefusedEventNeedsAcceptedProbes(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 4, 2, 100)
	tr.start("100")
	tid := telegraf.TrackingID(0)
	next := func() telegraf.TrackingID { tid++; return tid }

	// The page holding the refused event e, rejected until isolating.
	for range isolateAfter {
		require.NoError(t, tr.reserve(context.Background()))
		_, gen := tr.position()
		id := next()
		ok, _ := tr.push(gen, part{next: "500", keys: []eventKey{keyOf("e"), keyOf("f"), keyOf("g"), keyOf("h")}, emitted: 4, entries: 4},
			func() (telegraf.TrackingID, bool) { return id, true })
		require.True(t, ok)
		_, rewound := tr.delivered(id, false)
		require.True(t, rewound)
	}
	require.Equal(t, 2, tr.pageLimit(), "read in halves")
	require.NoError(t, tr.reserve(context.Background()))
	_, gen := tr.position()
	id := next()
	ok, _ := tr.push(gen, part{next: "300", keys: []eventKey{keyOf("e"), keyOf("f")}, emitted: 2, entries: 2},
		func() (telegraf.TrackingID, bool) { return id, true })
	require.True(t, ok)
	tr.delivered(id, false)
	require.Equal(t, 1, tr.pageLimit())

	refuse := func() { // e alone, refused: held, the events after it are read
		t.Helper()
		e := next()
		pushAlone(t, tr, e, "200", "e")
		_, rewound := tr.delivered(e, false)
		require.True(t, rewound)
		pos, _ := tr.position()
		require.Equal(t, boxevents.StreamPosition("200"), pos, "the events after it are read")
		require.Equal(t, boxevents.StreamPosition("100"), tr.committedPosition())
	}
	probe := func(at string, probeID string, ok bool) {
		t.Helper()
		p := next()
		pushAlone(t, tr, p, at, probeID)
		tr.delivered(p, ok)
		require.Empty(t, tr.takeSkipped())
	}
	repeat := func(next string) { pushAlone(t, tr, 0, next, "") }

	refuse()
	probe("300", "f", true) // evidence 1: e is written alone again
	pos, _ := tr.position()
	require.Equal(t, boxevents.StreamPosition("100"), pos)
	require.True(t, seen(tr, "f"), "f was delivered: a repeat when read again")
	require.False(t, seen(tr, "e"))
	refuse()
	repeat("300")
	probe("400", "g", false) // the output failed this write too: no evidence
	require.False(t, seen(tr, "g"), "g is read again")
	refuse()
	repeat("300")
	probe("400", "g", true) // 1
	refuse()
	repeat("300")
	repeat("400")
	probe("500", "h", true) // 2
	require.Equal(t, boxevents.StreamPosition("100"), tr.committedPosition(), "nothing committed past e")
	refuse()
	repeat("300")
	repeat("400")
	repeat("500")
	p := next()
	pushAlone(t, tr, p, "600", "i")
	moved, _ := tr.delivered(p, true) // 3: e is skipped
	require.True(t, moved)
	require.Equal(t, boxevents.StreamPosition("600"), tr.committedPosition())
	skipped := tr.takeSkipped()
	require.Len(t, skipped, 1)
	require.Equal(t, "e", skipped[0].id)
	require.Equal(t, boxevents.StreamPosition("100"), skipped[0].at)
	require.True(t, seen(tr, "e"), "a repeat of e is not written")
	require.Zero(t, tr.used, "every place is given back")
	require.Zero(t, tr.inFlight())
	require.Equal(t, 2, tr.pageLimit(), "parts grow back with commits")
}

// A page dropped by a rewind and then rejected too is read again; one
// delivered before the rewind is not written again.
func TestTracker_RejectSettlesDroppedPages(t *testing.T) {
	tr := newTracker(clock.NewMock(), 0, 2, 4, 100)
	tr.start("100")
	first := pushPage(t, tr, "200", "a")
	second := pushPage(t, tr, "300", "b")
	third := pushPage(t, tr, "400", "c")
	moved, _ := tr.delivered(second, true) // delivered, waiting for the first
	require.False(t, moved)
	_, rewound := tr.delivered(first, false)
	require.True(t, rewound)
	require.False(t, seen(tr, "a"))
	require.True(t, seen(tr, "b"), "delivered before the rewind: not written twice")
	tr.delivered(third, false)
	require.False(t, seen(tr, "c"), "rejected too: read again")
	require.Zero(t, tr.used)
}
