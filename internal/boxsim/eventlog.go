package boxsim

import (
	"sort"
	"time"
)

// eventLog is an append-only, position-ordered list of events that keeps the newest max
// (and, with a retention, those young enough): a contiguous window of positions. It is
// a sequence of segments, each either stored entries (with their JSON) or a stretch of
// a synthetic run (EmitBacklog), whose entries are computed when read.
type eventLog struct {
	segs    []segment
	size    int    // entries retained
	head    uint64 // position of the newest event ever appended, PositionBase when none
	trimmed uint64 // position of the newest event trimmed from the log, 0 when none
	max     int
	// retention trims events created longer ago than this (Options.Retention or
	// StreamRetention); zero keeps them.
	retention time.Duration
}

// segment is a stretch of a log: stored entries, or entries [lo, hi) of run.
type segment struct {
	stored []entry
	run    *run
	lo, hi int
}

func (g *segment) len() int {
	if g.run != nil {
		return g.hi - g.lo
	}
	return len(g.stored)
}

// pos is the position of the segment's i-th entry.
func (g *segment) pos(i int) uint64 {
	if g.run != nil {
		return g.run.pos(g.lo + i)
	}
	return g.stored[i].pos
}

// indexAfter returns the index of the segment's first entry positioned above pos.
func (g *segment) indexAfter(pos uint64) int {
	if g.run != nil {
		return min(max(g.run.indexAfter(pos), g.lo), g.hi) - g.lo
	}
	return sort.Search(len(g.stored), func(i int) bool { return g.stored[i].pos > pos })
}

// append stores e at the position step after the head and returns it as stored.
func (l *eventLog) append(e entry, step uint64) Event {
	l.head += step
	e.pos = l.head
	if n := len(l.segs); n == 0 || l.segs[n-1].run != nil {
		l.segs = append(l.segs, segment{})
	}
	last := &l.segs[len(l.segs)-1]
	last.stored = append(last.stored, e)
	l.size++
	l.trim()
	return e.event()
}

// appendRun appends all of r's entries; r starts at the head.
func (l *eventLog) appendRun(r *run) {
	l.segs = append(l.segs, segment{run: r, hi: r.served})
	l.size += r.served
	l.head = r.pos(r.served - 1)
	l.trim()
}

// trim drops the entries beyond max.
func (l *eventLog) trim() {
	if n := l.size - l.max; n > 0 {
		l.drop(n)
	}
}

// expireAt trims the entries older than the log's retention at now, if it has one.
func (l *eventLog) expireAt(now time.Time) {
	if l.retention > 0 {
		l.expire(now.Add(-l.retention))
	}
}

// expire trims the oldest entries while they were created before cutoff.
func (l *eventLog) expire(cutoff time.Time) {
	for len(l.segs) > 0 {
		g := &l.segs[0]
		n := 0
		if g.run != nil {
			n = g.run.firstYoung(g.lo, cutoff) - g.lo
		} else {
			for n < len(g.stored) && g.stored[n].createdAt.Before(cutoff) {
				n++
			}
		}
		if n == 0 {
			return
		}
		whole := n == g.len()
		l.drop(n)
		if !whole {
			return
		}
	}
}

// drop trims the n oldest entries.
func (l *eventLog) drop(n int) {
	for n > 0 {
		g := &l.segs[0]
		k := min(n, g.len())
		l.trimmed = g.pos(k - 1)
		switch {
		case k == g.len():
			l.segs[0] = segment{}
			l.segs = l.segs[1:]
		case g.run != nil:
			g.lo += k
		default:
			// Later appends reallocate and copy only the live tail, so memory stays bounded.
			clear(g.stored[:k])
			g.stored = g.stored[k:]
		}
		l.size -= k
		n -= k
	}
}

// scan calls f with each entry positioned above pos, in order, until f returns false.
// A synthetic entry is passed as a scratch entry with its position and what need asks
// for (see describe), and f gets its segment and its index k in the run to serve it;
// a stored entry is passed as stored. f must not keep e.
func (l *eventLog) scan(pos uint64, need int, sy *synth, f func(e *entry, g *segment, k int) bool) {
	first := sort.Search(len(l.segs), func(i int) bool {
		g := &l.segs[i]
		return g.pos(g.len()-1) > pos
	})
	var scratch entry
	for si := first; si < len(l.segs); si++ {
		g := &l.segs[si]
		for i := g.indexAfter(pos); i < g.len(); i++ {
			e := &scratch
			if g.run != nil {
				g.run.describe(e, g.lo+i, need, sy)
			} else {
				e = &g.stored[i]
			}
			if !f(e, g, g.lo+i) {
				return
			}
		}
	}
}

// streamNeed is what deciding membership of stream needs of a synthetic entry.
func streamNeed(stream Stream) int {
	switch stream {
	case StreamChanges:
		return needType
	case StreamSync:
		return needFull
	}
	return 0
}
