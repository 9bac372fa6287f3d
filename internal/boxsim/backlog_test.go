package boxsim

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRun_Mapping(t *testing.T) {
	for _, rate := range []float64{0, 0.001, 0.02, 0.1, 1.0 / 3, 0.5} {
		for _, n := range []int{1, 2, 3, 7, 100, 20011} {
			st := newStore(1, 1, 0)
			b := &backlog{n: n}
			r := st.newRun(b, PositionBase, uint64(math.Round(rate*rateScale)), 42)

			// Checked with plain conditions: require per entry is slow under -race.
			next, repeats := 0, 0 // the next distinct event due, and the repeats seen
			prev := r.start
			for k := range r.served {
				d, repeat := r.distinct(k)
				switch {
				case repeat && (d >= next || next-d > backlogRepeatLag):
					t.Fatalf("rate %v n %d: entry %d repeats %d, not one of the last %d of %d served", rate, n, k, d, backlogRepeatLag, next)
				case repeat:
					repeats++
				case d != next || r.servedIndex(d) != k:
					t.Fatalf("rate %v n %d: entry %d serves %d (servedIndex %d), want %d", rate, n, k, d, r.servedIndex(d), next)
				default:
					next++
				}
				pos := r.pos(k)
				if pos <= prev || pos-prev > 255 || r.indexAfter(pos-1) != k || r.indexAfter(pos) != k+1 {
					t.Fatalf("rate %v n %d: entry %d at %d after %d (indexAfter %d, %d)", rate, n, k, pos, prev,
						r.indexAfter(pos-1), r.indexAfter(pos))
				}
				prev = pos
			}
			require.Equal(t, n, next, "every distinct event is served")
			require.Equal(t, r.served, n+repeats)
			require.Equal(t, r.served, r.indexAfter(math.MaxUint64))
			require.Zero(t, r.indexAfter(0))
			if r.served >= 1000 {
				require.InDelta(t, rate, float64(repeats)/float64(r.served), 0.001, "rate %v n %d", rate, n)
			}
		}
	}
}

func TestServer_EmitBacklogPaging(t *testing.T) {
	for _, tt := range []struct {
		stream Stream
		n      int
	}{{StreamAdminLogsStreaming, 20_000}, {StreamAll, 5000}} {
		stream := tt.stream
		t.Run(string(stream), func(t *testing.T) {
			h := newHarness(t, Options{Seed: 11, MaxEvents: 100_000, PositionFormat: PositionMixed})
			token := h.sim.IssueToken(SubjectEnterprise)
			info := h.sim.EmitBacklog(stream, tt.n, 0.02)
			require.Equal(t, stream, info.Stream)
			require.Equal(t, tt.n, info.Distinct)
			require.Greater(t, info.Served, info.Distinct)
			require.Equal(t, info.LastPosition, h.sim.HeadPosition(stream))

			ids := h.drain(token, stream, 500)
			require.Len(t, ids, info.Served)
			want := make([]string, info.Distinct)
			for i := range want {
				want[i] = info.ID(i)
			}
			requireUnique(t, want)
			require.Equal(t, want, uniqueInOrder(ids), "every distinct event, in order, at least once")
			repeats := float64(len(ids)-info.Distinct) / float64(len(ids))
			require.InDelta(t, 0.02, repeats, 0.001)

			events := h.sim.Events(stream)
			require.Len(t, events, info.Served)
			require.Equal(t, info.FirstPosition, events[0].Position)
			require.Equal(t, info.LastPosition, events[len(events)-1].Position)
			seen := make(map[string]bool)
			var lastCreated time.Time
			for i, e := range events {
				if i > 0 {
					require.Greater(t, mustUint(t, e.Position), mustUint(t, events[i-1].Position))
				}
				if !seen[e.ID] { // a first showing: created_at increases with the index
					seen[e.ID] = true
					require.False(t, e.CreatedAt.Before(lastCreated))
					lastCreated = e.CreatedAt
				}
			}
			require.Greater(t, mustUint(t, info.FirstPosition), uint64(1)<<53)
			for _, e := range events[:50] {
				var m map[string]any
				require.NoError(t, json.Unmarshal(e.JSON, &m))
				require.Equal(t, e.ID, m["event_id"])
				require.Equal(t, e.Type, m["event_type"])
			}
			require.Empty(t, h.sim.ProducedIDs(stream), "synthetic events are counted, not recorded")
			require.Equal(t, info.Distinct, h.sim.ProducedCount(stream))
		})
	}
}

func TestServer_EmitBacklogAdminLogs(t *testing.T) {
	h := newHarness(t, Options{Seed: 4, MaxEvents: 100_000})
	token := h.sim.IssueToken(SubjectEnterprise)
	info := h.sim.EmitBacklog(StreamAdminLogs, 3000, 0.1)
	require.Equal(t, info.Distinct, info.Served, "admin_logs never repeats")
	require.Equal(t, info.LastPosition, h.sim.HeadPosition(StreamAdminLogs))

	admin := h.drain(token, StreamAdminLogs, 500)
	streaming := h.drain(token, StreamAdminLogsStreaming, 500)
	require.Len(t, admin, 3000)
	requireUnique(t, admin)
	require.Equal(t, admin, uniqueInOrder(streaming))
	require.InDelta(t, 0.1, float64(len(streaming)-3000)/float64(len(streaming)), 0.01)
	for _, i := range []int{0, 1, 1234, 2999} {
		require.Regexp(t, uuidV4, info.ID(i))
		require.Equal(t, admin[i], info.ID(i))
	}
	require.Equal(t, 3000, h.sim.ProducedCount(StreamAdminLogs))
	require.Equal(t, 3000, h.sim.ProducedCount(StreamAdminLogsStreaming))
	require.Zero(t, h.sim.ProducedCount(StreamAll))
	require.Panics(t, func() { info.ID(3000) })
	require.Panics(t, func() { h.sim.EmitBacklog("admin", 1, 0) })
	require.Panics(t, func() { h.sim.EmitBacklog(StreamAll, -1, 0) })

	empty := h.sim.EmitBacklog(StreamAll, 0, 0.02)
	require.Zero(t, empty.Served)
	require.Empty(t, empty.FirstPosition)
}

func TestServer_EmitBacklogIDs(t *testing.T) {
	h := newHarness(t, Options{Seed: 1})
	user := h.sim.EmitBacklog(StreamAll, 5000, 0)
	user2 := h.sim.EmitBacklog(StreamChanges, 5000, 0)
	admin := h.sim.EmitBacklog(StreamAdminLogsStreaming, 5000, 0)
	all := make([]string, 0, 3*5000)
	for i := range 5000 {
		require.Regexp(t, hex40, user.ID(i))
		require.Regexp(t, uuidV4, admin.ID(i))
		all = append(all, user.ID(i), user2.ID(i), admin.ID(i))
	}
	requireUnique(t, all)
	require.Equal(t, 10_000, h.sim.ProducedCount(StreamAll))
	require.Equal(t, 5000, h.sim.ProducedCount(StreamAdminLogs))
}

// keyPaths adds to set the paths of v's object keys ("source.parent.id"; arrays add
// "[]"), leaving out action_by, which only odd shapes fill in user events.
func keyPaths(set map[string]bool, prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if prefix == "" && k == "action_by" {
				continue
			}
			p := prefix + "." + k
			set[p] = true
			keyPaths(set, p, child)
		}
	case []any:
		for _, child := range v {
			keyPaths(set, prefix+"[]", child)
		}
	}
}

// shapesByType decodes events and returns, per event type, the union of their key
// paths, the number of events, and the mean size of their JSON.
func shapesByType(t *testing.T, raws []json.RawMessage) (map[string]map[string]bool, map[string]int, float64) {
	t.Helper()
	shapes, counts := make(map[string]map[string]bool), make(map[string]int)
	size := 0
	for _, raw := range raws {
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m), string(raw))
		typ := m["event_type"].(string)
		if shapes[typ] == nil {
			shapes[typ] = make(map[string]bool)
		}
		keyPaths(shapes[typ], "", m)
		counts[typ]++
		size += len(raw)
	}
	return shapes, counts, float64(size) / float64(len(raws))
}

func TestServer_EmitBacklogShapes(t *testing.T) {
	const n = 5000
	for _, tt := range []struct {
		stream Stream
		emit   func(s *Server) []Event
	}{
		{StreamAll, func(s *Server) []Event { return s.EmitUser(n) }},
		{StreamAdminLogsStreaming, func(s *Server) []Event { return s.EmitEnterprise(n) }},
	} {
		t.Run(string(tt.stream), func(t *testing.T) {
			h := newHarness(t, Options{Seed: 6, MaxEvents: 100_000, NoAuth: true})
			var stored []json.RawMessage
			for _, e := range tt.emit(h.sim) {
				stored = append(stored, e.JSON)
			}
			// Serve the backlog through the handler, page by page, after the stored events.
			from := h.sim.HeadPosition(tt.stream)
			h.sim.EmitBacklog(tt.stream, n, 0.02)
			var served []json.RawMessage
			for {
				status, body := h.getEvents("", url.Values{
					"stream_type": {string(tt.stream)}, "stream_position": {from}, "limit": {"500"},
				})
				require.Equal(t, http.StatusOK, status)
				var p struct {
					Next    json.Number       `json:"next_stream_position"`
					Entries []json.RawMessage `json:"entries"`
				}
				require.NoError(t, json.Unmarshal(body, &p))
				if len(p.Entries) == 0 {
					break
				}
				served = append(served, p.Entries...)
				from = p.Next.String()
			}
			require.Greater(t, len(served), n)

			storedShapes, storedCounts, storedSize := shapesByType(t, stored)
			servedShapes, servedCounts, servedSize := shapesByType(t, served)
			compared := 0
			for typ, shape := range storedShapes {
				if storedCounts[typ] < 30 || servedCounts[typ] < 30 {
					continue
				}
				compared++
				require.Equal(t, sortedKeys(shape), sortedKeys(servedShapes[typ]), typ)
			}
			require.Greater(t, compared, 15)
			require.InDelta(t, 1, servedSize/storedSize, 0.05, "served %.0f bytes, stored %.0f", servedSize, storedSize)
			t.Logf("%s: mean entry %.0f bytes (stored events %.0f)", tt.stream, servedSize, storedSize)
		})
	}
}

func sortedKeys(set map[string]bool) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestServer_EmitBacklogMetadata(t *testing.T) {
	// The metadata a scan computes for a synthetic entry is what parsing its JSON gives,
	// so filters treat it as they treat a stored event.
	for _, stream := range []Stream{StreamAll, StreamAdminLogs} {
		h := newHarness(t, Options{Seed: 3, MaxEvents: 100_000})
		h.sim.EmitBacklog(stream, 3000, 0.05)
		l := h.sim.store.log(stream)
		g := &l.segs[0]
		for k := g.lo; k < g.hi; k++ {
			var e entry
			g.run.describe(&e, k, needFull, h.sim.store.scratch)
			raw := g.run.appendEntry(nil, k, h.sim.store.scratch)
			parsed, err := parseEvent(raw, time.Time{})
			require.NoError(t, err)
			require.Equal(t, parsed.id, e.id)
			require.Equal(t, parsed.eventType, e.eventType)
			require.Equal(t, parsed.changes, e.changes)
			require.Equal(t, parsed.sync, e.sync)
			require.True(t, parsed.createdAt.Equal(e.createdAt))
			var typeOnly entry
			g.run.describe(&typeOnly, k, needType|needCreated, h.sim.store.scratch)
			require.Equal(t, e.eventType, typeOnly.eventType)
			require.True(t, e.createdAt.Equal(typeOnly.createdAt))
		}
	}
}

func TestServer_EmitBacklogFilters(t *testing.T) {
	h := newHarness(t, Options{Seed: 9, MaxEvents: 100_000})
	token := h.sim.IssueToken(SubjectEnterprise)
	h.sim.EmitUser(20)
	h.sim.EmitBacklog(StreamAll, 5000, 0.02)
	h.sim.EmitUser(20)

	all := h.sim.Events(StreamAll)
	var changes, sync []string
	for _, e := range all {
		parsed, err := parseEvent(e.JSON, time.Time{})
		require.NoError(t, err)
		if parsed.changes {
			changes = append(changes, e.ID)
		}
		if parsed.sync {
			sync = append(sync, e.ID)
		}
	}
	require.NotEmpty(t, sync)
	require.Greater(t, len(changes), len(sync))
	require.Equal(t, changes, h.drain(token, StreamChanges, 500))
	require.Equal(t, sync, h.drain(token, StreamSync, 500))
	require.Equal(t, changes, idsOf(h.sim.Events(StreamChanges)))
	require.Equal(t, len(uniqueInOrder(changes)), h.sim.ProducedCount(StreamChanges))
	require.Equal(t, len(uniqueInOrder(sync)), h.sim.ProducedCount(StreamSync))

	// event_type and the date window on an enterprise backlog, between live events.
	h.sim.EmitEnterprise(10)
	h.clock.Add(time.Minute)
	info := h.sim.EmitBacklog(StreamAdminLogsStreaming, 6000, 0.02)
	h.sim.EmitEnterprise(10)
	admin := h.sim.Events(StreamAdminLogs)
	require.Len(t, admin, 6020)
	var logins []string
	for _, e := range admin {
		if e.Type == "LOGIN" || e.Type == "SHIELD_ALERT" {
			logins = append(logins, e.ID)
		}
	}
	require.Greater(t, len(logins), 600)
	q := url.Values{"stream_type": {"admin_logs"}, "event_type": {"LOGIN,SHIELD_ALERT"}}
	require.Equal(t, logins, h.drainQuery(token, q, 500))

	var streamingLogins []string
	for _, e := range h.sim.Events(StreamAdminLogsStreaming) {
		if e.Type == "LOGIN" || e.Type == "SHIELD_ALERT" {
			streamingLogins = append(streamingLogins, e.ID)
		}
	}
	q.Set("stream_type", "admin_logs_streaming")
	require.Equal(t, streamingLogins, h.drainQuery(token, q, 500))

	// The backlog spans 60 s before now, 100 events a second.
	after := h.clock.Now().Add(-40 * time.Second)
	before := h.clock.Now().Add(-20 * time.Second)
	var window []string
	for _, e := range admin {
		if !e.CreatedAt.Before(after) && e.CreatedAt.Before(before) {
			window = append(window, e.ID)
		}
	}
	require.Len(t, window, 2000)
	require.Equal(t, info.ID(1999), window[0], "event d is created at now-(5999-d)*10ms")
	q = url.Values{
		"stream_type": {"admin_logs"}, "created_after": {after.Format(time.RFC3339)},
		"created_before": {before.Format(time.RFC3339)},
	}
	require.Equal(t, window, h.drainQuery(token, q, 500))
}

// drainQuery pages query from position 0 with limit until a page is empty and returns
// the event ids in order.
func (h *harness) drainQuery(token string, query url.Values, limit int) []string {
	h.t.Helper()
	var ids []string
	query.Set("stream_position", "0")
	query.Set("limit", strconv.Itoa(limit))
	for range 10000 {
		p := h.mustPage(token, query)
		ids = append(ids, p.ids()...)
		if p.digits() == query.Get("stream_position") {
			return ids
		}
		query.Set("stream_position", p.digits())
	}
	h.t.Fatal("stream did not end")
	return nil
}

func TestServer_EmitBacklogMixedWithLive(t *testing.T) {
	h := newHarness(t, Options{Seed: 5, MaxEvents: 100_000})
	token := h.sim.IssueToken(SubjectUser)
	before := h.sim.EmitUser(5)
	srv := h.options(token, "?stream_type=changes")
	answer := h.longPoll(t.Context(), srv["url"].(string), h.sim.HeadPosition(StreamAll), token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))

	info := h.sim.EmitBacklog(StreamAll, 1000, 0.02)
	require.Equal(t, "new_change", receive(t, answer), "a backlog wakes the long poll")
	require.Greater(t, mustUint(t, info.FirstPosition), mustUint(t, before[4].Position))
	after := h.sim.EmitUser(5)
	raw, err := h.sim.AddRawEvent(StreamAll, json.RawMessage(`{"event_id":"raw-1"}`))
	require.NoError(t, err)
	require.Greater(t, mustUint(t, after[0].Position), mustUint(t, info.LastPosition))

	ids := h.drain(token, StreamAll, 37)
	require.Equal(t, idsOf(before), ids[:5])
	require.Equal(t, append(idsOf(after), raw.ID), ids[len(ids)-6:])
	require.Len(t, ids, 5+info.Served+6)
	events := h.sim.Events(StreamAll)
	require.Equal(t, ids, idsOf(events))
	for i := 1; i < len(events); i++ {
		require.Greater(t, mustUint(t, events[i].Position), mustUint(t, events[i-1].Position))
	}

	// Paging from inside the backlog and from the live tail.
	p := h.mustPage(token, url.Values{"stream_position": {events[700].Position}, "limit": {"3"}})
	require.Equal(t, ids[701:704], p.ids())
	p = h.mustPage(token, url.Values{"stream_position": {info.LastPosition}, "limit": {"3"}})
	require.Equal(t, idsOf(after[:3]), p.ids())
	p = h.mustPage(token, url.Values{"stream_position": {before[4].Position}, "limit": {"2"}})
	require.Equal(t, ids[5:7], p.ids())
	require.Equal(t, info.ID(0), p.ids()[0])
	require.Equal(t, events[6].Position, p.digits())

	// The long poll sees synthetic entries after a position inside the backlog.
	h.sim.mu.Lock()
	pending := h.sim.store.hasAfter(StreamChanges, mustUint(t, events[500].Position))
	h.sim.mu.Unlock()
	require.True(t, pending)
	require.Equal(t, 1000+11, h.sim.ProducedCount(StreamAll))
	require.Len(t, h.sim.ProducedIDs(StreamAll), 11)
}

func TestServer_EmitBacklogRetention(t *testing.T) {
	h := newHarness(t, Options{Seed: 2, MaxEvents: 1000, RejectExpiredPositions: true})
	token := h.sim.IssueToken(SubjectEnterprise)
	live := h.sim.EmitEnterprise(3)
	info := h.sim.EmitBacklog(StreamAdminLogsStreaming, 5000, 0.02)
	events := h.sim.Events(StreamAdminLogsStreaming)
	require.Len(t, events, 1000, "MaxEvents trims synthetic entries too")
	require.Equal(t, info.LastPosition, events[999].Position)
	trimmed := mustUint(t, h.sim.TrimmedThrough(StreamAdminLogsStreaming))
	require.Less(t, trimmed, mustUint(t, events[0].Position))
	require.Greater(t, trimmed, mustUint(t, info.FirstPosition))

	status, header, body := h.do(t.Context(), http.MethodGet, "/2.0/events?stream_type=admin_logs_streaming&stream_position="+
		info.FirstPosition, bearer(token), nil)
	requireInvalidPosition(t, status, header, body)
	p := h.mustPage(token, url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {"0"}, "limit": {"2"}})
	require.Equal(t, idsOf(events[:2]), p.ids())
	status, header, body = h.do(t.Context(), http.MethodGet, "/2.0/events?stream_type=admin_logs&stream_position="+
		live[0].Position, bearer(token), nil)
	requireInvalidPosition(t, status, header, body)

	// A live event trims the oldest synthetic entry.
	h.sim.EmitEnterprise(1)
	require.Equal(t, events[0].Position, h.sim.TrimmedThrough(StreamAdminLogsStreaming))
}

func TestServer_EmitBacklogRetentionByAge(t *testing.T) {
	h := newHarness(t, Options{Seed: 2, MaxEvents: 100_000, Retention: time.Minute, TokenTTL: 24 * time.Hour})
	live := h.sim.EmitUser(2)
	h.clock.Add(time.Minute + time.Second)
	info := h.sim.EmitBacklog(StreamAll, 10_000, 0.02) // created over the last 100 s
	events := h.sim.Events(StreamAll)
	cutoff := h.clock.Now().Add(-time.Minute)
	require.Less(t, len(events), info.Served)
	require.False(t, events[0].CreatedAt.Before(cutoff))
	require.NotContains(t, idsOf(events), live[0].ID)
	trimmed := h.sim.TrimmedThrough(StreamAll)
	require.Greater(t, mustUint(t, events[0].Position), mustUint(t, trimmed))
	// The first retained entry is the first event of the backlog at most a minute old:
	// event d is created at now-(9999-d)*10ms.
	require.Equal(t, info.ID(3999), events[0].ID)

	h.clock.Add(30 * time.Second) // trimmed on read
	events = h.sim.Events(StreamAll)
	require.Equal(t, info.ID(6999), events[0].ID)
	h.clock.Add(time.Hour)
	require.Empty(t, h.sim.Events(StreamAll))
	require.Equal(t, info.LastPosition, h.sim.TrimmedThrough(StreamAll))
}

func TestServer_EmitBacklogDeterministic(t *testing.T) {
	run := func(seed uint64) []string {
		h := newHarness(t, Options{Seed: seed, MaxEvents: 100_000})
		h.sim.EmitEnterprise(3)
		h.sim.EmitBacklog(StreamAdminLogsStreaming, 500, 0.1)
		h.sim.EmitBacklog(StreamSync, 500, 0.1)
		h.sim.EmitUser(3)
		var out []string
		for _, stream := range []Stream{StreamAll, StreamAdminLogs, StreamAdminLogsStreaming} {
			for _, e := range h.sim.Events(stream) {
				out = append(out, e.Position+" "+string(e.JSON))
			}
		}
		return out
	}
	first := run(9)
	require.Equal(t, first, run(9))
	require.NotEqual(t, first, run(10))

	// A backlog does not disturb the generator: live events come out the same.
	plain := newHarness(t, Options{Seed: 9})
	withBacklog := newHarness(t, Options{Seed: 9})
	withBacklog.sim.EmitBacklog(StreamAll, 100, 0.02)
	require.Equal(t, jsonOf(plain.sim.EmitUser(20)), jsonOf(withBacklog.sim.EmitUser(20)))
}

func jsonOf(events []Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, string(e.JSON))
	}
	return out
}

func TestServer_EmitBacklogMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	sim := New(Options{Seed: 1, MaxEvents: 20_000_000, NoAuth: true})
	defer sim.Close()
	var before, after runtime.MemStats
	runtime.GC() //nolint:revive // call-to-gc: HeapAlloc counts live objects only after a collection
	runtime.ReadMemStats(&before)
	streaming := sim.EmitBacklog(StreamAdminLogsStreaming, 5_000_000, 0.02)
	user := sim.EmitBacklog(StreamAll, 5_000_000, 0.02)
	runtime.GC() //nolint:revive // call-to-gc: as above
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth for two backlogs of 5,000,000 (%d and %d entries): %d bytes", streaming.Served, user.Served, growth)
	require.Less(t, growth, int64(200<<20))
	require.Equal(t, 5_000_000, sim.ProducedCount(StreamAll))

	// A page from the far end is served at once.
	rec := httptest.NewRecorder()
	sim.mu.Lock()
	r := sim.store.streaming.segs[0].run
	sim.mu.Unlock()
	pos := strconv.FormatUint(r.pos(r.served-65), 10)
	sim.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet,
		"/2.0/events?stream_type=admin_logs_streaming&limit=500&stream_position="+pos, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	p := decodePage(t, rec.Body.Bytes())
	require.Len(t, p.Entries, 64)
	require.Equal(t, streaming.LastPosition, p.digits())
	require.Equal(t, streaming.ID(streaming.Distinct-1), p.Entries[63]["event_id"])
}

// BenchmarkServeBacklogPage serves 500-entry pages of a backlog of 1,000,000 events
// (2% repeats) through the handler, into a ResponseWriter that only counts the bytes,
// as a connection would take them: what the simulator costs, not a recorder's copying.
func BenchmarkServeBacklogPage(b *testing.B) {
	for _, stream := range []Stream{StreamAdminLogsStreaming, StreamAll} {
		b.Run(string(stream), func(b *testing.B) {
			sim := New(Options{NoAuth: true, Seed: 1, MaxEvents: 2_000_000})
			defer sim.Close()
			info := sim.EmitBacklog(stream, 1_000_000, 0.02)
			// Start positions of successive pages, spread over the backlog.
			var starts []string
			pos := info.FirstPosition
			for range 200 {
				starts = append(starts, pos)
				rec := httptest.NewRecorder()
				sim.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet,
					"/2.0/events?limit=500&stream_type="+string(stream)+"&stream_position="+pos, nil))
				var p struct {
					Next json.Number `json:"next_stream_position"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					b.Fatal(err)
				}
				pos = p.Next.String()
			}
			handler := sim.Handler()
			w := &discardWriter{header: make(http.Header)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest(http.MethodGet, "/2.0/events?limit=500&stream_type="+string(stream)+
					"&stream_position="+starts[i%len(starts)], nil)
				w.status = 0
				handler.ServeHTTP(w, req)
				if w.status != http.StatusOK || !strings.HasPrefix(string(w.head[:]), `{"chunk_size":500,`) {
					b.Fatal(w.status, string(w.head[:]))
				}
			}
			b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(w.written)/float64(b.N), "bytes/page")
		})
	}
}

// discardWriter is an http.ResponseWriter that keeps the status, the first bytes of the
// body and the count of the rest.
type discardWriter struct {
	header  http.Header
	status  int
	head    [18]byte
	written int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) { w.status = status }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	copy(w.head[:], p)
	w.written += len(p)
	return len(p), nil
}
