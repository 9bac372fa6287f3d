package boxsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// idRecord is the bounded, ordered record of distinct ids behind ProducedIDs.
type idRecord struct {
	ids   []string
	seen  map[string]struct{}
	max   int
	total int // ids ever added (ProducedCount)
}

func newIDRecord(limit int) *idRecord {
	return &idRecord{seen: make(map[string]struct{}), max: limit}
}

// add records id unless it is empty (AddRawEvent) or already recorded (a scripted or
// simulated duplicate).
func (r *idRecord) add(id string) {
	if _, dup := r.seen[id]; dup || id == "" {
		return
	}
	r.seen[id] = struct{}{}
	r.ids = append(r.ids, id)
	r.total++
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
	held []entry
	// adminDelay is Options.AdminLogsDelay; delayed are the admin_logs events it still
	// hides, in position order (one per moment they fall due).
	adminDelay time.Duration
	delayed    []delayedEntry
	produced   map[Stream]*idRecord
	// changed is closed and replaced whenever an event is appended (long-poll wake-up).
	changed chan struct{}
	// backlogs are EmitBacklog's, in order; syntheticCount is their events' total
	// (the next backlog's base) and runs the number of runs laid out.
	backlogs       []*backlog
	syntheticCount uint64
	runs           uint64
	// scratch draws synthetic entries for scans under Server.mu.
	scratch *synth
}

func newStore(maxEvents, maxIDs int, retention time.Duration) store {
	st := store{
		user:      eventLog{head: PositionBase, max: maxEvents, retention: retention},
		admin:     eventLog{head: PositionBase, max: maxEvents, retention: retention},
		streaming: eventLog{head: PositionBase, max: maxEvents, retention: retention},
		produced:  make(map[Stream]*idRecord),
		changed:   make(chan struct{}),
		scratch:   newSynth(),
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

// retainFor gives each log the retention Options.StreamRetention sets for its stream;
// the user log, which all, changes and sync share, keeps the longest given for them.
func (st *store) retainFor(retention map[Stream]time.Duration) {
	var user time.Duration
	for stream, d := range retention {
		switch {
		case !stream.valid() || d <= 0:
		case stream.Enterprise():
			st.log(stream).retention = d
		default:
			user = max(user, d)
		}
	}
	if user > 0 {
		st.user.retention = user
	}
}

// expire applies each log's retention at now.
func (st *store) expire(now time.Time) {
	st.user.expireAt(now)
	st.admin.expireAt(now)
	st.streaming.expireAt(now)
}

// delayedEntry is an admin_logs event that AdminLogsDelay hides until due: until then
// admin_logs is served up to before, the position preceding it.
type delayedEntry struct {
	before uint64
	due    time.Time
}

// delayAdmin hides from admin_logs, until AdminLogsDelay after now, the event just
// appended after position before.
func (st *store) delayAdmin(before uint64, now time.Time) {
	if st.adminDelay <= 0 {
		return
	}
	due := now.Add(st.adminDelay)
	if n := len(st.delayed); n > 0 && !due.After(st.delayed[n-1].due) {
		return // hidden anyway behind an earlier event due no sooner
	}
	st.delayed = append(st.delayed, delayedEntry{before: before, due: due})
}

// servedHead is the newest position stream serves at now: its log's head, or for
// admin_logs the position before the oldest event AdminLogsDelay still hides.
func (st *store) servedHead(stream Stream, now time.Time) uint64 {
	if stream != StreamAdminLogs || len(st.delayed) == 0 {
		return st.log(stream).head
	}
	n := 0
	for n < len(st.delayed) && !now.Before(st.delayed[n].due) {
		n++
	}
	st.delayed = st.delayed[n:]
	if len(st.delayed) == 0 {
		st.delayed = nil
		return st.admin.head
	}
	return st.delayed[0].before
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
	found := false
	st.log(stream).scan(pos, streamNeed(stream), st.scratch, func(e *entry, _ *segment, _ int) bool {
		found = inStream(stream, e)
		return !found
	})
	return found
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
// and its source, or the source's parent, has "sync_state":"synced". UserDuplicateRate
// applies.
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

// AddRawEvent appends any JSON object, served exactly as given (compacted), even one
// without event_id, event_type or created_at, or {}: the near-empty and odd entries a
// client must survive. For stream all, changes or sync it goes to the user log: it is
// in "all", and in changes and sync by AddUserEvent's rules, whichever of the three
// was named. For admin_logs or admin_logs_streaming it goes to both enterprise logs.
// It is appended once, in order: UserDuplicateRate, StreamingDisorder and
// StreamingDuplicateRate do not apply to it. It returns the event as served by "all" or "admin_logs" (CreatedAt is the
// clock's time when created_at is absent or unparseable). An event without a non-empty
// string event_id is not recorded in ProducedIDs (there is nothing to record); one with
// an id is. Only raw that is not a JSON object, or an unknown stream, is an error.
func (s *Server) AddRawEvent(stream Stream, raw json.RawMessage) (Event, error) {
	if !stream.valid() {
		return Event{}, fmt.Errorf("boxsim: unknown stream %q", stream)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := parseRawEvent(raw, s.clock.Now())
	if err != nil {
		return Event{}, err
	}
	if stream.Enterprise() {
		return s.appendEnterpriseExactLocked(e), nil
	}
	return s.appendUserExactLocked(e), nil
}

// Events returns the retained entries of stream in position order, as a client paging
// from position 0 would read them now (ids may repeat with UserDuplicateRate or on
// admin_logs_streaming). Entries held back by StreamingDisorder or
// StreamingDuplicateRate are not listed until appended, nor admin_logs events that
// AdminLogsDelay still hides.
// Synthetic entries (EmitBacklog) are written out too, so a large backlog makes a large
// answer.
func (s *Server) Events(stream Stream) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.store
	st.expire(s.clock.Now())
	head := st.servedHead(stream, s.clock.Now())
	var out []Event
	st.log(stream).scan(0, streamNeed(stream), st.scratch, func(e *entry, g *segment, k int) bool {
		switch {
		case e.pos > head:
			return false
		case !inStream(stream, e):
		case g.run != nil:
			out = append(out, g.run.event(k, st.scratch))
		default:
			out = append(out, e.event())
		}
		return true
	})
	return out
}

// ProducedIDs returns the ids of every event produced for stream, each once, in the
// order first produced, including events since trimmed from the log (up to MaxProducedIDs).
// admin_logs and admin_logs_streaming carry the same events, so they share one record.
// Synthetic backlogs (EmitBacklog) are counted, not recorded: their ids are not here
// (see ProducedCount and BacklogInfo.ID).
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
// in its log (in admin_logs, the newest AdminLogsDelay no longer hides), or PositionBase
// when none was ever added.
func (s *Server) HeadPosition(stream Stream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatUint(s.store.servedHead(stream, s.clock.Now()), 10)
}

// TrimmedThrough returns the decimal position of the newest event trimmed from
// stream's log (by MaxEvents or Retention), or "" when nothing was trimmed yet: a
// stream_position below it lies before the retained window (see
// RejectExpiredPositions). all, changes and sync share the user log, and so this
// position.
func (s *Server) TrimmedThrough(stream Stream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.expire(s.clock.Now())
	if t := s.store.log(stream).trimmed; t != 0 {
		return strconv.FormatUint(t, 10)
	}
	return ""
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
		st.recordUser(&e)
	}
	st.expire(s.clock.Now())
	st.notify()
	return out
}

// appendUserExactLocked appends one user event once, wakes long-polls and returns it
// as stored.
func (s *Server) appendUserExactLocked(e entry) Event {
	st := &s.store
	out := st.user.append(e, s.positionStepLocked())
	st.recordUser(&e)
	st.expire(s.clock.Now())
	st.notify()
	return out
}

// recordUser records a user event's id for the streams it belongs to.
func (st *store) recordUser(e *entry) {
	st.produced[StreamAll].add(e.id)
	if e.changes {
		st.produced[StreamChanges].add(e.id)
	}
	if e.sync {
		st.produced[StreamSync].add(e.id)
	}
}

// appendEnterpriseExactLocked appends one event to admin_logs and admin_logs_streaming,
// neither delayed nor duplicated (events held back earlier follow it), wakes long-polls
// and returns it as stored in admin_logs.
func (s *Server) appendEnterpriseExactLocked(e entry) Event {
	st := &s.store
	before := st.admin.head
	out := st.admin.append(e, s.positionStepLocked())
	st.delayAdmin(before, s.clock.Now())
	st.produced[StreamAdminLogs].add(e.id)
	st.streaming.append(e, s.positionStepLocked())
	st.flushHeld(s.positionStepLocked)
	st.expire(s.clock.Now())
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
		before := st.admin.head
		out = append(out, st.admin.append(e, s.positionStepLocked()))
		st.delayAdmin(before, s.clock.Now())
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
	st.expire(s.clock.Now())
	st.notify()
	return out
}

// positionStepLocked draws the gap between two consecutive positions of a log.
func (s *Server) positionStepLocked() uint64 {
	return 1 + s.stepRand.Uint64N(255)
}

// parseEvent validates a scripted event, which needs a non-empty string event_id, and
// derives its metadata.
func parseEvent(raw json.RawMessage, now time.Time) (entry, error) {
	e, err := parseRawEvent(raw, now)
	if err != nil {
		return entry{}, err
	}
	if e.id == "" {
		return entry{}, errors.New("boxsim: event needs a non-empty string event_id")
	}
	return e, nil
}

// parseRawEvent accepts any JSON object and derives what metadata it has: the id and
// type when they are strings, created_at when it parses (else now), and membership of
// changes and sync.
func parseRawEvent(raw json.RawMessage, now time.Time) (entry, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return entry{}, fmt.Errorf("boxsim: event is not valid JSON: %w", err)
	}
	var fields struct {
		EventID   json.RawMessage `json:"event_id"`
		EventType json.RawMessage `json:"event_type"`
		CreatedAt json.RawMessage `json:"created_at"`
		Source    json.RawMessage `json:"source"`
	}
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil || buf.Bytes()[0] != '{' {
		return entry{}, errors.New("boxsim: event must be a JSON object")
	}
	e := entry{createdAt: now, raw: buf.Bytes()}
	// Odd values (a numeric id, an unknown type, a date in another layout) are served
	// as given; they just carry no metadata.
	var id, eventType, created string
	if json.Unmarshal(fields.EventID, &id) == nil {
		e.id = id
	}
	if json.Unmarshal(fields.EventType, &eventType) == nil {
		e.eventType = eventType
	}
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
