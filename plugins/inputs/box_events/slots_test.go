package box_events

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Under execd a page holds its place until committed, commit_delay after it
// was written. Places used to be counted in pages, so a user stream (the long
// poll brings a page of one or a few events per new_change) filled
// max_undelivered_pages with a few hundred events and then stopped reading
// until commits freed places: at max_undelivered_pages / commit_delay pages a
// second it fell behind for good. The bound is on events: reading goes on
// while the uncommitted events are far below page_size × max_undelivered_pages.
func TestCommitDelay_SmallPagesNeverWaitForCommits(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 98})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.StartPosition = "now"
	p.PageSize = 500
	p.MaxUndeliveredPages = 20
	p.CommitDelay = config.Duration(30 * time.Second)
	acc, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))

	// Ten pages of one event a second for two and a half minutes of mock
	// time: 1,500 pages, 300 of them uncommitted at any time (commit_delay
	// 30 s), far more than max_undelivered_pages, and 300 events, far fewer
	// than page_size × max_undelivered_pages (10,000).
	const pages = 1500
	for i := range pages {
		mock.Add(100 * time.Millisecond) // reads are spaced by minFetchSpacing
		sim.EmitUser(1)
		// The clock stands still: an event that waits for a commit (which
		// needs commit_delay to pass on the clock) never comes.
		require.Eventually(t, func() bool {
			out.accept() // written to stdout at once, as under execd
			return acc.NMetrics() == uint64(i+1)
		}, 10*time.Second, time.Millisecond, "page %d waited for a commit (%d pages uncommitted)", i+1, p.tracker.inFlight())
	}
	require.Greater(t, p.tracker.inFlight(), p.MaxUndeliveredPages, "more pages than max_undelivered_pages were uncommitted")
	require.NotEqual(t, "now", committed(p), "commits went on all along")
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()), "every event once")
}

// uncommittedEvents sums what the groups not yet committed emitted; used
// adds the places of pages reserved and not pushed yet.
func uncommittedEvents(tr *tracker) (events, used int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, g := range tr.queue {
		events += g.weight
	}
	return events, tr.used
}

// Counting events keeps the bound the places exist for: small pages first,
// then full ones, and never more than page_size × max_undelivered_pages
// events uncommitted in Telegraf.
func TestCommitDelay_EventBoundHoldsWithFullPages(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 99})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.StartPosition = "now"
	p.PageSize = 4
	p.MaxUndeliveredPages = 3 // 12 events
	p.CommitDelay = config.Duration(30 * time.Second)
	acc, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))

	// Five pages of one event: 5 of 12 events uncommitted, although more
	// pages than max_undelivered_pages may follow.
	for i := range 5 {
		mock.Add(100 * time.Millisecond)
		sim.EmitUser(1)
		require.Eventually(t, func() bool {
			out.accept()
			return acc.NMetrics() == uint64(i+1)
		}, 10*time.Second, time.Millisecond)
	}
	// A backlog of full pages: one fits (9 events), a second would make 13.
	mock.Add(100 * time.Millisecond)
	sim.EmitUser(40)
	require.Eventually(t, func() bool {
		out.accept()
		return acc.NMetrics() == 9
	}, 10*time.Second, time.Millisecond)
	for range 20 {
		mock.Add(time.Second) // fetch spacing passes, commit_delay does not
		out.accept()
		events, _ := uncommittedEvents(p.tracker)
		require.Equal(t, 9, events)
	}
	require.Never(t, func() bool { return acc.NMetrics() > 9 }, 300*time.Millisecond, 10*time.Millisecond,
		"page_size × max_undelivered_pages events at most sit uncommitted")

	// As commits free places the backlog is read, within the bound.
	pump(t, mock, out, time.Second, func() bool {
		events, used := uncommittedEvents(p.tracker)
		require.LessOrEqual(t, events, 12)
		require.LessOrEqual(t, used, 12)
		return committed(p) == sim.HeadPosition(boxsim.StreamAll)
	})
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()), "every event once")
}

// Compiled into Telegraf a group's delivery notice comes only once an output
// wrote it, after a flush (flush_interval, 10 s by default). Notices used to be
// bounded by max_undelivered_pages groups, the size the tracking accumulator
// was made with, so a user stream whose long poll brings a page of one or a
// few events stopped reading after max_undelivered_pages events until the next
// flush. The bound is on events, notices included: reading goes on while the
// events awaiting a flush are far below page_size × max_undelivered_pages.
func TestCompiledIn_SmallPagesNeverWaitForAFlush(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 97})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.StartPosition = "now"
	p.PageSize = 100
	p.MaxUndeliveredPages = 10 // 1,000 events; compiled in, commit_delay is 0
	acc, out := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	start := committed(p)

	// 200 pages of one event and no flush: 200 notices outstanding.
	const pages = 200
	for i := range pages {
		mock.Add(100 * time.Millisecond) // reads are spaced by minFetchSpacing
		sim.EmitUser(1)
		require.Eventually(t, func() bool { return acc.NMetrics() == uint64(i+1) },
			10*time.Second, time.Millisecond, "page %d waited for a flush (%d pages undelivered)", i+1, p.tracker.inFlight())
	}
	require.Equal(t, pages, p.tracker.inFlight())
	require.Equal(t, start, committed(p), "nothing is committed before the outputs wrote it")

	// The flush delivers them all; the stream goes on from there.
	out.accept()
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()), "every event once")
}
