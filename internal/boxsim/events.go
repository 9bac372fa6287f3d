package boxsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paging limits of GET /2.0/events (openapi.json: default 100, maximum 500).
const (
	defaultLimit = 100
	maxLimit     = 500
)

// eventsQuery is a validated GET /2.0/events request.
type eventsQuery struct {
	stream Stream
	now    bool   // stream_position=now
	from   uint64 // serve events positioned after from
	echo   bool   // a real position was sent: an empty page echoes it
	limit  int
	types  map[string]bool // event_type filter; nil means all
	after  time.Time       // created_after (inclusive); zero means unbounded
	before time.Time       // created_before (exclusive); zero means unbounded
}

// need is what matches needs to know of a synthetic entry.
func (q *eventsQuery) need() int {
	need := streamNeed(q.stream)
	if q.types != nil {
		need |= needType
	}
	if !q.after.IsZero() || !q.before.IsZero() {
		need |= needCreated
	}
	return need
}

func (q *eventsQuery) matches(e *entry) bool {
	if !inStream(q.stream, e) {
		return false
	}
	if q.types != nil && !q.types[e.eventType] {
		return false
	}
	if !q.after.IsZero() && e.createdAt.Before(q.after) {
		return false
	}
	if !q.before.IsZero() && !e.createdAt.Before(q.before) {
		return false
	}
	return true
}

// handleEvents serves GET /2.0/events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	s.record(EndpointEvents, r, "")
	tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	q, bad := parseEventsQuery(r)
	if bad != "" {
		s.writeInvalidParameter(w, bad, r.URL.Query().Get(bad))
		return
	}
	if (q.stream.Enterprise() || r.Header.Get("As-User") != "") && !s.mayActAsAdmin(tok) {
		s.writeError(w, http.StatusForbidden, "forbidden", "Forbidden", nil)
		return
	}

	sc := s.pages.Get().(*pageScratch)
	defer s.pages.Put(sc)
	s.mu.Lock()
	if s.positionExpiredLocked(q) {
		s.mu.Unlock()
		s.writeInvalidPosition(w)
		return
	}
	items, next := s.pageLocked(q, sc.items[:0])
	pos := s.formatPositionLocked(next)
	s.mu.Unlock()
	sc.items = items[:0]
	defer clear(items) // drop the references to stored JSON before pooling

	b := append(sc.buf[:0], `{"chunk_size":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	b = append(b, `,"next_stream_position":`...)
	b = append(b, pos...)
	b = append(b, `,"entries":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		if it.run != nil {
			b = it.run.appendEntry(b, it.k, &sc.synth) // the run is immutable: no lock needed
		} else {
			b = append(b, it.raw...)
		}
	}
	b = append(b, "]}"...)
	writeBody(w, http.StatusOK, "application/json", b)
	if cap(b) <= maxPooledPage {
		sc.buf = b
	}
}

// maxPooledPage bounds the page buffers kept for reuse (a full page of generated
// events takes about 600 KB).
const maxPooledPage = 4 << 20

// pageScratch is a page's reusable memory: its entries, its body and a source for
// synthetic events.
type pageScratch struct {
	items []pageItem
	buf   []byte
	synth synth
}

func newPageScratch() any {
	return &pageScratch{synth: *newSynth()}
}

// pageItem is an entry of a page: stored JSON, or entry k of a synthetic run, written
// when the page is.
type pageItem struct {
	raw json.RawMessage
	run *run
	k   int
}

// parseEventsQuery validates the query string. On failure it returns the name of the
// offending parameter.
func parseEventsQuery(r *http.Request) (eventsQuery, string) {
	v := r.URL.Query()
	q := eventsQuery{stream: StreamAll, limit: defaultLimit}
	if st := v.Get("stream_type"); st != "" {
		q.stream = Stream(st)
		if !q.stream.valid() {
			return q, "stream_type"
		}
	}

	switch p := v.Get("stream_position"); p {
	case "", "0": // all retained events
	case "now":
		q.now = true
	default:
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return q, "stream_position"
		}
		q.from, q.echo = n, true
	}

	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return q, "limit"
		}
		if n > 0 {
			q.limit = min(n, maxLimit)
		}
	}

	if !q.stream.Enterprise() {
		return q, "" // event_type and the date filters are ignored on user streams
	}
	if t := v.Get("event_type"); t != "" {
		q.types = make(map[string]bool)
		for _, name := range strings.Split(t, ",") {
			if name = strings.TrimSpace(name); name != "" {
				q.types[name] = true
			}
		}
	}
	if q.stream != StreamAdminLogs {
		return q, "" // admin_logs_streaming does not support date filters
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &q.after}, {"created_before", &q.before}} {
		if raw := v.Get(p.name); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				return q, p.name
			}
			*p.dst = t
		}
	}
	return q, ""
}

// positionExpiredLocked reports whether Options.RejectExpiredPositions refuses q's
// position: a numeric one below the newest event trimmed from the stream's log.
func (s *Server) positionExpiredLocked(q eventsQuery) bool {
	if !s.opts.RejectExpiredPositions || !q.echo {
		return false
	}
	s.store.expire(s.clock.Now())
	return q.from < s.store.log(q.stream).trimmed
}

// pageLocked selects the entries of one page and the next_stream_position to answer.
// Like Box, the position advances over whatever the scan looked at, matching or not
// (events of the user log outside changes or sync, admin events outside event_type or
// the created_after/created_before window): the page ends at its limit-th match, or,
// when the log ran out first, at the last entry scanned. When no entry at all lies
// after the requested position it echoes that position (or answers the head for
// position 0 or absent); "now" answers the head; an empty admin_logs page answers 0
// under EmptyPageZeroPosition. Under AdminLogsDelay admin_logs's head is the newest
// event no longer hidden, and the scan stops there.
func (s *Server) pageLocked(q eventsQuery, items []pageItem) ([]pageItem, uint64) {
	st := &s.store
	if q.stream == StreamAdminLogsStreaming {
		st.flushHeld(s.positionStepLocked)
	}
	st.expire(s.clock.Now())
	l := st.log(q.stream)
	head := st.servedHead(q.stream, s.clock.Now()) // l.head, unless AdminLogsDelay hides its newest
	if q.now {
		return nil, head
	}

	limit := q.limit
	if s.opts.ShortPages && limit > 1 && s.trafficRnd.IntN(3) == 0 {
		limit = 1 + s.trafficRnd.IntN(limit-1)
	}
	var (
		last    uint64 // the last entry scanned
		scanned bool
	)
	l.scan(q.from, q.need(), st.scratch, func(e *entry, g *segment, k int) bool {
		if e.pos > head {
			return false
		}
		last, scanned = e.pos, true
		if q.matches(e) {
			items = append(items, pageItem{raw: e.raw, run: g.run, k: k})
		}
		return len(items) < limit
	})

	switch {
	case len(items) == 0 && q.stream == StreamAdminLogs && s.opts.EmptyPageZeroPosition:
		return nil, 0
	case scanned:
		return items, last
	case q.echo:
		return nil, q.from
	default:
		return nil, head
	}
}

// formatPositionLocked renders a position as a JSON string or number per PositionFormat.
func (s *Server) formatPositionLocked(pos uint64) []byte {
	digits := strconv.FormatUint(pos, 10)
	asNumber := s.opts.PositionFormat == PositionNumber
	if s.opts.PositionFormat == PositionMixed {
		asNumber = s.formatTurn%2 == 1
		s.formatTurn++
	}
	if asNumber {
		return []byte(digits)
	}
	return []byte(`"` + digits + `"`)
}
