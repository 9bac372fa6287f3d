package boxsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Event is one entry of a stream as the simulator serves it.
type Event struct {
	Position  string          // decimal stream position of the entry
	ID        string          // event_id
	Type      string          // event_type ("" when absent)
	CreatedAt time.Time       // created_at, or the clock's time when absent or unparseable
	JSON      json.RawMessage // the object served in "entries", compacted
}

// entry is an event in a log. Positions are uint64 from creation to the wire.
type entry struct {
	pos       uint64
	id        string
	eventType string
	createdAt time.Time
	raw       json.RawMessage
	changes   bool // user log: also in the changes stream
	sync      bool // user log: also in the sync stream
}

func (e *entry) event() Event {
	return Event{
		Position:  strconv.FormatUint(e.pos, 10),
		ID:        e.id,
		Type:      e.eventType,
		CreatedAt: e.createdAt,
		JSON:      e.raw,
	}
}

// eventLog is an append-only, position-ordered list of events that keeps the newest max.
type eventLog struct {
	entries []entry
	head    uint64 // position of the newest event ever appended, PositionBase when none
	max     int
}

// append stores e at the position step after the head and returns it as stored.
func (l *eventLog) append(e entry, step uint64) Event {
	l.head += step
	e.pos = l.head
	l.entries = append(l.entries, e)
	if n := len(l.entries) - l.max; n > 0 {
		// Later appends reallocate and copy only the live tail, so memory stays bounded.
		clear(l.entries[:n])
		l.entries = l.entries[n:]
	}
	return e.event()
}

// indexAfter returns the index of the first entry with a position above pos.
func (l *eventLog) indexAfter(pos uint64) int {
	return sort.Search(len(l.entries), func(i int) bool { return l.entries[i].pos > pos })
}

// idRecord is the bounded, ordered record of distinct ids behind ProducedIDs.
type idRecord struct {
	ids  []string
	seen map[string]struct{}
	max  int
}

func newIDRecord(limit int) *idRecord {
	return &idRecord{seen: make(map[string]struct{}), max: limit}
}

// add records id unless it is already recorded (a scripted or simulated duplicate).
func (r *idRecord) add(id string) {
	if _, dup := r.seen[id]; dup {
		return
	}
	r.seen[id] = struct{}{}
	r.ids = append(r.ids, id)
	if n := len(r.ids) - r.max; n > 0 {
		for _, old := range r.ids[:n] {
			delete(r.seen, old)
		}
		clear(r.ids[:n])
		r.ids = r.ids[n:]
	}
}

// store holds the user log (all, changes and sync are views of it) and the two
// enterprise logs. Server.mu guards it.
type store struct {
	user      eventLog
	admin     eventLog
	streaming eventLog
	// held are admin_logs_streaming entries (late or duplicated) not yet appended; they
	// follow the next appended batch or are flushed by the next streaming read.
	held     []entry
	produced map[Stream]*idRecord
	// changed is closed and replaced whenever an event is appended (long-poll wake-up).
	changed chan struct{}
}

func newStore(maxEvents, maxIDs int) store {
	st := store{
		user:      eventLog{head: PositionBase, max: maxEvents},
		admin:     eventLog{head: PositionBase, max: maxEvents},
		streaming: eventLog{head: PositionBase, max: maxEvents},
		produced:  make(map[Stream]*idRecord),
		changed:   make(chan struct{}),
	}
	for _, s := range []Stream{StreamAll, StreamChanges, StreamSync, StreamAdminLogs} {
		st.produced[s] = newIDRecord(maxIDs)
	}
	return st
}

// log returns the log behind stream.
func (st *store) log(stream Stream) *eventLog {
	switch stream {
	case StreamAdminLogs:
		return &st.admin
	case StreamAdminLogsStreaming:
		return &st.streaming
	default:
		return &st.user
	}
}

// inStream reports whether e, taken from stream's log, belongs to stream.
func inStream(stream Stream, e *entry) bool {
	switch stream {
	case StreamChanges:
		return e.changes
	case StreamSync:
		return e.sync
	default:
		return true
	}
}

// hasAfter reports whether stream has an event positioned after pos.
func (st *store) hasAfter(stream Stream, pos uint64) bool {
	l := st.log(stream)
	for i := l.indexAfter(pos); i < len(l.entries); i++ {
		if inStream(stream, &l.entries[i]) {
			return true
		}
	}
	return false
}

func (st *store) notify() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// flushHeld appends the held admin_logs_streaming entries.
func (st *store) flushHeld(step func() uint64) {
	for _, e := range st.held {
		st.streaming.append(e, step())
	}
	st.held = nil
}

// AddUserEvent appends a scripted event to the user stream and returns it as served by
// stream "all". raw must be a JSON object with a non-empty string event_id; it is served
// as given (compacted). The event is also in "changes" when its event_type changes the
// file tree (ITEM_UPLOAD, ITEM_TRASH, COLLAB_*, ...), and in "sync" when it is in changes
// and its source, or the source's parent, has "sync_state":"synced".
func (s *Server) AddUserEvent(raw json.RawMessage) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := parseEvent(raw, s.clock.Now())
	if err != nil {
		return Event{}, err
	}
	return s.appendUserLocked([]entry{e})[0], nil
}

// AddEnterpriseEvent appends a scripted event to the enterprise logs and returns it as
// served by admin_logs. raw must be a JSON object with a non-empty string event_id. The
// event also goes to admin_logs_streaming, subject to StreamingDisorder and
// StreamingDuplicateRate.
func (s *Server) AddEnterpriseEvent(raw json.RawMessage) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := parseEvent(raw, s.clock.Now())
	if err != nil {
		return Event{}, err
	}
	return s.appendEnterpriseLocked([]entry{e})[0], nil
}

// Events returns the retained entries of stream in position order, as a client paging
// from position 0 would read them now (ids may repeat with UserDuplicateRate or on
// admin_logs_streaming). Entries held
// back by StreamingDisorder or StreamingDuplicateRate are not listed until appended.
func (s *Server) Events(stream Stream) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.store.log(stream)
	var out []Event
	for i := range l.entries {
		if inStream(stream, &l.entries[i]) {
			out = append(out, l.entries[i].event())
		}
	}
	return out
}

// ProducedIDs returns the ids of every event produced for stream, each once, in the
// order first produced, including events since trimmed from the log (up to MaxProducedIDs).
// admin_logs and admin_logs_streaming carry the same events, so they share one record.
func (s *Server) ProducedIDs(stream Stream) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stream == StreamAdminLogsStreaming {
		stream = StreamAdminLogs
	}
	r := s.store.produced[stream]
	if r == nil {
		return nil
	}
	return append([]string(nil), r.ids...)
}

// HeadPosition returns the position "now" answers for stream: that of the newest event
// in its log, or PositionBase when none was ever added.
func (s *Server) HeadPosition(stream Stream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatUint(s.store.log(stream).head, 10)
}

// appendUserLocked appends user events in order, wakes long-polls and returns the
// events as stored. With UserDuplicateRate an event is sent again at the next position,
// as Box's user stream sometimes does.
func (s *Server) appendUserLocked(batch []entry) []Event {
	st := &s.store
	out := make([]Event, 0, len(batch))
	for _, e := range batch {
		out = append(out, st.user.append(e, s.positionStepLocked()))
		if s.eventRand.Float64() < s.opts.UserDuplicateRate {
			st.user.append(e, s.positionStepLocked())
		}
		st.produced[StreamAll].add(e.id)
		if e.changes {
			st.produced[StreamChanges].add(e.id)
		}
		if e.sync {
			st.produced[StreamSync].add(e.id)
		}
	}
	st.notify()
	return out
}

// appendEnterpriseLocked appends a batch to admin_logs in order (chronological, no
// duplicates) and to admin_logs_streaming in processing order: with StreamingDisorder the
// batch is shuffled and some events are held back past the next batch; with
// StreamingDuplicateRate some events are queued to be sent again later. It returns the
// events as stored in admin_logs.
func (s *Server) appendEnterpriseLocked(batch []entry) []Event {
	st := &s.store
	out := make([]Event, 0, len(batch))
	for _, e := range batch {
		out = append(out, st.admin.append(e, s.positionStepLocked()))
		st.produced[StreamAdminLogs].add(e.id)
	}

	order := append([]entry(nil), batch...)
	if s.opts.StreamingDisorder {
		s.eventRand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	var late []entry
	for _, e := range order {
		if s.opts.StreamingDisorder && s.eventRand.Float64() < 0.3 {
			late = append(late, e)
		} else {
			st.streaming.append(e, s.positionStepLocked())
		}
		if s.eventRand.Float64() < s.opts.StreamingDuplicateRate {
			late = append(late, e)
		}
	}
	st.flushHeld(s.positionStepLocked)
	st.held = late
	st.notify()
	return out
}

// positionStepLocked draws the gap between two consecutive positions of a log.
func (s *Server) positionStepLocked() uint64 {
	return 1 + s.stepRand.Uint64N(255)
}

// parseEvent validates a scripted event and derives its metadata.
func parseEvent(raw json.RawMessage, now time.Time) (entry, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return entry{}, fmt.Errorf("boxsim: event is not valid JSON: %w", err)
	}
	var fields struct {
		EventID   *string         `json:"event_id"`
		EventType json.RawMessage `json:"event_type"`
		CreatedAt json.RawMessage `json:"created_at"`
		Source    json.RawMessage `json:"source"`
	}
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		return entry{}, fmt.Errorf("boxsim: event must be a JSON object: %w", err)
	}
	if fields.EventID == nil || *fields.EventID == "" {
		return entry{}, errors.New("boxsim: event needs a non-empty string event_id")
	}
	e := entry{id: *fields.EventID, createdAt: now, raw: buf.Bytes()}
	var eventType string
	if json.Unmarshal(fields.EventType, &eventType) == nil { // odd or unknown types are allowed
		e.eventType = eventType
	}
	var created string
	if json.Unmarshal(fields.CreatedAt, &created) == nil {
		if t, err := time.Parse(time.RFC3339, created); err == nil {
			e.createdAt = t
		}
	}
	e.changes = isChangeEventType(e.eventType)
	e.sync = e.changes && syncedSource(fields.Source)
	return e, nil
}

// syncedSource reports whether an event source, or its parent, is a synced folder.
func syncedSource(source json.RawMessage) bool {
	var src struct {
		SyncState string `json:"sync_state"`
		Parent    *struct {
			SyncState string `json:"sync_state"`
		} `json:"parent"`
	}
	if json.Unmarshal(source, &src) != nil {
		return false
	}
	return src.SyncState == "synced" || (src.Parent != nil && src.Parent.SyncState == "synced")
}
