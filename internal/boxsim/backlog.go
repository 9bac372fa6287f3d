package boxsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Synthetic backlogs (EmitBacklog) keep no event in memory: a log holds one run record
// per backlog, from which the k-th entry's position, the event it serves and that
// event's JSON are computed when a page is served.
const (
	// backlogSpacing is the gap between the created times of consecutive events of a
	// backlog (100 a second): the newest is created at EmitBacklog's time on the clock,
	// 5,000,000 events reach back about 14 hours.
	backlogSpacing = 10 * time.Millisecond
	// MaxBacklogRepeatRate bounds EmitBacklog's repeatRate.
	MaxBacklogRepeatRate = 0.5
	// backlogRepeatLag bounds how far back, in distinct events, a repeat reaches.
	backlogRepeatLag = 256
	// posStride spaces a run's positions: entry k lies in [start+1+128k, start+128(k+1)],
	// so steps between neighbours vary from 1 to 255 like those of stored events.
	posStride = 128
	// rateScale is the denominator of a run's repeat rate.
	rateScale = 1_000_000
)

// Keys mixed with Options.Seed for synthetic content, ids and positions.
const (
	keyContent   = 0x636f6e74656e74 // "content"
	keyID        = 0x6576656e746964 // "eventid"
	keyPositions = 0x706f736974696f // "positio"
	keyRepeats   = 0x72657065617473 // "repeats"
)

// BacklogInfo describes the synthetic backlog EmitBacklog appended.
type BacklogInfo struct {
	// Stream is the stream EmitBacklog was given.
	Stream Stream
	// Distinct is the number of distinct events, EmitBacklog's n.
	Distinct int
	// Served is the number of entries appended to Stream's log: Distinct plus the
	// repeats (admin_logs never repeats; all, changes and sync count entries of the
	// user log, whichever view a client reads).
	Served int
	// FirstPosition and LastPosition are the decimal positions of the first and the last
	// of those entries ("" when Distinct is 0). Entries beyond MaxEvents are trimmed at
	// once, so raise MaxEvents to keep a large backlog.
	FirstPosition, LastPosition string

	b *backlog
}

// ID returns the event_id of the backlog's i-th distinct event, 0 <= i < Distinct, in
// the order first served: a 40-hex id for a user stream, a UUID for an enterprise one.
// It costs no more than formatting the id, so a benchmark can check any sample of what
// a client received. It panics when i is out of range.
func (b BacklogInfo) ID(i int) string {
	if b.b == nil || i < 0 || i >= b.b.n {
		panic(fmt.Sprintf("boxsim: backlog event %d out of range [0, %d)", i, b.Distinct))
	}
	var id [20]byte
	b.b.setID(&id, i)
	return string(appendEventID(nil, b.b.enterprise, &id))
}

// EmitBacklog appends a synthetic backlog of n distinct generated events to stream's log
// and returns where it lies. Like EmitType it goes to the user log for all, changes and
// sync (in changes and sync as each event's type and folder put it), and to both
// enterprise logs for admin_logs and admin_logs_streaming: admin_logs in order without
// repeats, admin_logs_streaming (and the user log) with repeats.
//
// With repeatRate r (clamped to [0, MaxBacklogRepeatRate]), about r of the served
// entries repeat, at a later position, an event served shortly before (at most 256
// distinct events back), as Box's at-least-once streams do; every distinct event is
// served at least once, and in order of creation. The events are as varied as
// EmitUser's and EmitEnterprise's (the same generator) and deterministic from Seed and
// their index; their created_at increases with the index, 10 ms apart, the newest at
// the clock's now. Event ids are unique across all backlogs of the Server.
//
// Nothing per event is kept: the log holds one run record per backlog, and an entry's
// JSON is written when a page serves it, so a backlog of millions costs a few hundred
// bytes. Live events (EmitUser, AddRawEvent, ...) appended afterwards follow it;
// paging, filters, MaxEvents, Retention, RejectExpiredPositions and long-poll wake-ups
// treat synthetic entries like stored ones. Synthetic events are counted, not
// recorded: ProducedCount includes them, ProducedIDs does not; use BacklogInfo.ID.
// Events and ProducedCount of changes or sync walk the whole backlog, so avoid them
// on large ones. UserDuplicateRate, StreamingDuplicateRate and StreamingDisorder do
// not apply; admin_logs_streaming entries held back by them follow the backlog.
//
// It panics on an unknown stream or a negative n.
func (s *Server) EmitBacklog(stream Stream, n int, repeatRate float64) BacklogInfo {
	if !stream.valid() || n < 0 {
		panic(fmt.Sprintf("boxsim: EmitBacklog(%q, %d): unknown stream or negative n", stream, n))
	}
	rate := uint64(0)
	if repeatRate > 0 { // NaN and negative rates mean none
		rate = uint64(math.Round(min(repeatRate, MaxBacklogRepeatRate) * rateScale))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.store
	now := s.clock.Now()
	b := &backlog{
		gen:        &s.gen,
		enterprise: stream.Enterprise(),
		n:          n,
		base:       st.syntheticCount,
		end:        now,
		contentKey: mix64(s.opts.Seed ^ keyContent),
		idKey:      mix64(s.opts.Seed ^ keyID),
	}
	info := BacklogInfo{Stream: stream, Distinct: n, b: b}
	if n == 0 {
		return info
	}
	st.syntheticCount += uint64(n)
	st.backlogs = append(st.backlogs, b)

	var named *run
	if b.enterprise {
		admin := st.newRun(b, st.admin.head, 0, s.opts.Seed)
		st.admin.appendRun(admin)
		streaming := st.newRun(b, st.streaming.head, rate, s.opts.Seed)
		st.streaming.appendRun(streaming)
		st.flushHeld(s.positionStepLocked)
		named = admin
		if stream == StreamAdminLogsStreaming {
			named = streaming
		}
	} else {
		named = st.newRun(b, st.user.head, rate, s.opts.Seed)
		st.user.appendRun(named)
	}
	st.expire(now)
	st.notify()

	info.Served = named.served
	info.FirstPosition = strconv.FormatUint(named.pos(0), 10)
	info.LastPosition = strconv.FormatUint(named.pos(named.served-1), 10)
	return info
}

// ProducedCount returns how many distinct events were produced for stream, including
// synthetic backlogs and events since trimmed from the log (admin_logs and
// admin_logs_streaming share one count). Unlike ProducedIDs it is not bounded by
// MaxProducedIDs; a scripted re-send of an id that has left that record counts again.
// For changes and sync it walks each backlog once (then remembers the count).
func (s *Server) ProducedCount(stream Stream) int {
	s.mu.Lock()
	key := stream
	if key == StreamAdminLogsStreaming {
		key = StreamAdminLogs
	}
	r := s.store.produced[key]
	if r == nil {
		s.mu.Unlock()
		return 0
	}
	count := r.total
	backlogs := s.store.backlogs
	s.mu.Unlock()

	for _, b := range backlogs { // immutable once appended
		if b.enterprise != stream.Enterprise() {
			continue
		}
		switch stream {
		case StreamChanges:
			count += b.members().changes
		case StreamSync:
			count += b.members().sync
		default:
			count += b.n
		}
	}
	return count
}

// backlog is the immutable description of one EmitBacklog call's distinct events: the
// d-th is drawn by the generator from a source seeded by the Server's content key and
// base+d, created at end-(n-1-d)*backlogSpacing, with an id derived from base+d.
type backlog struct {
	gen        *generator
	enterprise bool
	n          int
	base       uint64 // index of event 0 among the Server's synthetic events
	end        time.Time
	contentKey uint64
	idKey      uint64

	countOnce sync.Once
	counts    memberCounts // computed by members
}

type memberCounts struct{ changes, sync int }

// createdAt is event d's created time before its zone and truncation: the event's
// created_at is this instant at second precision.
func (b *backlog) createdAt(d int) time.Time {
	return b.end.Add(-time.Duration(b.n-1-d) * backlogSpacing)
}

// createdInstant is event d's created_at as an instant, what filters and Retention
// compare.
func (b *backlog) createdInstant(d int) time.Time {
	return b.createdAt(d).Truncate(time.Second)
}

func (b *backlog) types() []weighted {
	if b.enterprise {
		return b.gen.adminTypes
	}
	return b.gen.userTypes
}

// seed points sy's source at event d: the same draws every time.
func (b *backlog) seed(sy *synth, d int) {
	sy.src.Seed(b.contentKey, mix64(b.base+uint64(d)))
}

// eventType draws only event d's type, the first draw of its event.
func (b *backlog) eventType(sy *synth, d int) string {
	b.seed(sy, d)
	return pick(sy.r, b.types())
}

// draw draws event d into ev.
func (b *backlog) draw(sy *synth, d int, ev *genEvent) {
	b.seed(sy, d)
	t := pick(sy.r, b.types())
	b.gen.draw(ev, sy.r, b.enterprise, t, b.createdAt(d))
	b.setID(&ev.id, d) // the drawn id is replaced by one unique by construction
}

// setID writes event d's id: 64 bits that are a bijection of base+d (so ids never
// collide across the Server's backlogs), the rest derived from them.
func (b *backlog) setID(id *[20]byte, d int) {
	u := mix64((b.base + uint64(d)) ^ b.idKey)
	v, w := mix64(u^keyID), mix64(u^keyContent)
	if !b.enterprise {
		putUint64(id[0:8], u)
		putUint64(id[8:16], v)
		id[16], id[17], id[18], id[19] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
		return
	}
	// A version 4 UUID: u fills the 48 bits before the version and 16 after the variant.
	putUint64(id[0:8], u>>16<<16|v&0xffff)
	putUint64(id[8:16], w)
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	id[9], id[10] = byte(u>>8), byte(u)
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// members counts the backlog's events in the changes and sync streams, once.
func (b *backlog) members() memberCounts {
	b.countOnce.Do(func() {
		sy := newSynth()
		var ev genEvent
		for d := range b.n {
			b.draw(sy, d, &ev)
			if ev.inChanges() {
				b.counts.changes++
			}
			if ev.inSync() {
				b.counts.sync++
			}
		}
	})
	return b.counts
}

// firstYoung returns the index of the first event created at or after cutoff, n if none.
func (b *backlog) firstYoung(cutoff time.Time) int {
	return sort.Search(b.n, func(d int) bool { return !b.createdInstant(d).Before(cutoff) })
}

// run is a backlog's entries in one log. Entry k (0 <= k < served) is at position
// start+1+128k+jitter(k) and serves distinct event distinct(k). With a repeat rate the
// entries are cut into periods, the p-th starting at floor(p*rateScale/rate), each
// serving the next distinct events with one repeat among them at a hashed offset, so
// that the mapping both ways takes a few multiplications.
type run struct {
	b      *backlog
	start  uint64 // the log's head before the run
	key    uint64 // position jitter and repeat placement
	rate   uint64 // repeats per rateScale entries, at most rateScale/2
	served int
}

// newRun lays b out after head with the given repeat rate.
func (st *store) newRun(b *backlog, head, rate, seed uint64) *run {
	st.runs++
	r := &run{b: b, start: head, key: mix64(seed ^ keyPositions ^ st.runs*0x9e3779b97f4a7c15), rate: rate}
	r.served = r.servedIndex(b.n-1) + 1
	return r
}

// pos is the position of entry k.
func (r *run) pos(k int) uint64 {
	return r.start + 1 + uint64(k)*posStride + mix64(r.key^uint64(k))%posStride
}

// indexAfter returns the first entry positioned after pos, served when none is.
func (r *run) indexAfter(pos uint64) int {
	if pos <= r.start {
		return 0
	}
	q := (pos - r.start - 1) / posStride
	if q >= uint64(r.served) {
		return r.served
	}
	k := int(q)
	if r.pos(k) <= pos {
		k++
	}
	return k
}

func (r *run) periodStart(p uint64) uint64 { return p * rateScale / r.rate }

// repeatOffset is where period p's repeat lies, after at least one new event.
func (r *run) repeatOffset(p uint64) uint64 {
	length := r.periodStart(p+1) - r.periodStart(p)
	return 1 + mix64(r.key^keyRepeats+p)%(length-1)
}

// distinct returns the distinct event entry k serves and whether it repeats one
// served before.
func (r *run) distinct(k int) (int, bool) {
	if r.rate == 0 {
		return k, false
	}
	kk := uint64(k)
	p := ((kk+1)*r.rate - 1) / rateScale // the last period starting at or before k
	start := r.periodStart(p)
	before := start - p // distinct events served before period p
	o, at := kk-start, r.repeatOffset(p)
	switch {
	case o < at:
		return int(before + o), false
	case o > at:
		return int(before + o - 1), false
	}
	seen := before + at
	lag := 1 + mix64(r.key^keyContent+p)%min(backlogRepeatLag, seen)
	return int(seen - lag), true
}

// servedIndex returns the entry that first serves distinct event d.
func (r *run) servedIndex(d int) int {
	if r.rate == 0 {
		return d
	}
	dd := uint64(d)
	p := ((dd+1)*r.rate - 1) / (rateScale - r.rate) // the last period whose events start at or before d
	start := r.periodStart(p)
	o := dd - (start - p)
	if o >= r.repeatOffset(p) {
		o++
	}
	return int(start + o)
}

// firstYoung returns the first entry from lo on created at or after cutoff, served
// when none is. Every entry before it is older (a repeat is as old as the event it
// repeats), so the log trims them all.
func (r *run) firstYoung(lo int, cutoff time.Time) int {
	d := r.b.firstYoung(cutoff)
	if d == r.b.n {
		return r.served
	}
	k := max(lo, r.servedIndex(d))
	for k < r.served {
		d, _ := r.distinct(k)
		if !r.b.createdInstant(d).Before(cutoff) {
			break
		}
		k++
	}
	return k
}

// What a scan needs to know of a synthetic entry besides its position.
const (
	needType    = 1 << iota // eventType and changes
	needCreated             // createdAt
	needFull                // everything, sync included: draws the whole event
)

// describe fills e with entry k's metadata as need asks (raw stays nil: see appendEntry).
func (r *run) describe(e *entry, k, need int, sy *synth) {
	*e = entry{pos: r.pos(k)}
	if need == 0 {
		return
	}
	d, _ := r.distinct(k)
	if need&needFull != 0 {
		var ev genEvent
		r.b.draw(sy, d, &ev)
		e.id, e.eventType = ev.idString(), ev.eventType
		e.changes, e.sync = ev.inChanges(), ev.inSync()
		e.createdAt = r.b.createdInstant(d)
		return
	}
	if need&needCreated != 0 {
		e.createdAt = r.b.createdInstant(d)
	}
	if need&needType != 0 {
		e.eventType = r.b.eventType(sy, d)
		e.changes = isChangeEventType(e.eventType)
	}
}

// appendEntry appends entry k's JSON to dst.
func (r *run) appendEntry(dst []byte, k int, sy *synth) []byte {
	var ev genEvent // on the stack, as w is: writing them needs no GC write barrier
	return r.appendEvent(dst, k, sy, &ev)
}

// appendEvent draws entry k's event into ev and appends its JSON to dst.
func (r *run) appendEvent(dst []byte, k int, sy *synth, ev *genEvent) []byte {
	d, _ := r.distinct(k)
	r.b.draw(sy, d, ev)
	w := jsonw{b: dst}
	return r.b.gen.appendEvent(&w, ev)
}

// event returns entry k as Events serves it.
func (r *run) event(k int, sy *synth) Event {
	var ev genEvent
	raw := r.appendEvent(nil, k, sy, &ev)
	created, err := time.Parse(time.RFC3339, ev.now.Format(boxTime)) // as parseRawEvent reads it
	if err != nil {
		panic("boxsim: generated created_at does not parse: " + err.Error())
	}
	return Event{
		Position:  strconv.FormatUint(r.pos(k), 10),
		ID:        ev.idString(),
		Type:      ev.eventType,
		CreatedAt: created,
		JSON:      raw,
	}
}

// synth draws synthetic events: one source, reseeded for each event. It is not safe for
// concurrent use.
type synth struct {
	src *rand.PCG
	r   *rand.Rand
}

func newSynth() *synth {
	// Synthetic content must be reproducible from Seed, hence math/rand/v2 on purpose.
	src := rand.NewPCG(0, 0)
	return &synth{src: src, r: rand.New(src)} //nolint:gosec // reproducible simulated data
}

// mix64 is SplitMix64's finalizer: a bijection of 64-bit values that scatters
// neighbouring inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
