package box_events

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

func TestEventMetric_Fields(t *testing.T) {
	created := "2026-03-04T10:53:43-08:00"
	base, err := time.Parse(time.RFC3339, created)
	require.NoError(t, err)

	tests := []struct {
		name   string
		event  string // the event as Box sends it
		tags   map[string]string
		fields map[string]interface{}
	}{
		{
			name: "enterprise login",
			event: `{"event_id": "f4b2-11", "event_type": "LOGIN", "created_at": "` + created + `",
				"created_by": {"type": "user", "id": "11446498", "name": "Aaron Levie", "login": "ceo@example.com"},
				"ip_address": "81.2.69.144", "session_id": "sess1", "additional_details": { "size": 12, "role": "editor" }}`,
			tags: map[string]string{"category": "authentication", "stream_type": "admin_logs_streaming", "event_type": "LOGIN", "user": "ceo@example.com"},
			fields: map[string]interface{}{
				"event_id": "f4b2-11", "user_id": "11446498", "user_name": "Aaron Levie", "user_type": "user",
				"ip_address": "81.2.69.144", "session_id": "sess1", "size": int64(12), "details_role": "editor",
			},
		},
		{
			name: "file source with parent and owner; login falls back to id",
			event: `{"event_id": "e2", "event_type": "ITEM_UPLOAD", "created_at": "` + created + `", "created_by": {"id": "2"},
				"source": {"type":"file","id":"12345","name":"q1.xlsx",
					"parent":{"type":"folder","id":"99","name":"Finance"},"owned_by":{"type":"user","id":"7","login":"cfo@example.com"}}}`,
			tags: map[string]string{"category": "file_access", "stream_type": "admin_logs_streaming", "event_type": "ITEM_UPLOAD", "user": "2"},
			fields: map[string]interface{}{
				"event_id": "e2", "user_id": "2", "source_type": "file", "source_id": "12345", "source_name": "q1.xlsx",
				"source_parent_id": "99", "source_parent_name": "Finance", "source_owner_id": "7", "source_owner_login": "cfo@example.com",
			},
		},
		{
			name: "EventSource item_type shape with numeric ids",
			event: `{"event_id": "e3", "event_type": "DOWNLOAD", "created_at": "` + created + `",
				"source": {"item_type":"file","item_id":873,"item_name":"a.pdf","parent":{"id":5}}}`,
			tags: map[string]string{"category": "file_access", "stream_type": "admin_logs_streaming", "event_type": "DOWNLOAD"},
			fields: map[string]interface{}{
				"event_id": "e3", "source_type": "file", "source_id": "873", "source_name": "a.pdf", "source_parent_id": "5",
			},
		},
		{
			name: "collaboration shape",
			event: `{"event_id": "e4", "event_type": "COLLABORATION_INVITE", "created_at": "` + created + `",
				"source": {"folder_id":"44","folder_name":"Deals","user_id":"8","user_email":"x@partner.com"},
				"accessible_by": {"type":"user","id":"8","login":"x@partner.com","name":"X"}}`,
			tags: map[string]string{"category": "collaboration", "stream_type": "admin_logs_streaming", "event_type": "COLLABORATION_INVITE"},
			fields: map[string]interface{}{
				"event_id": "e4", "source_type": "folder", "source_id": "44", "source_name": "Deals",
				"source_user_id": "8", "source_user_email": "x@partner.com",
				"accessible_by_type": "user", "accessible_by_id": "8", "accessible_by_login": "x@partner.com", "accessible_by_name": "X",
			},
		},
		{
			name: "user source",
			event: `{"event_id": "e5", "event_type": "NEW_USER", "created_at": "` + created + `",
				"source": {"type":"user","id":"31","name":"New Hire","login":"new@example.com"}}`,
			tags: map[string]string{"category": "user_admin", "stream_type": "admin_logs_streaming", "event_type": "NEW_USER"},
			fields: map[string]interface{}{
				"event_id": "e5", "source_type": "user", "source_id": "31", "source_name": "New Hire", "source_login": "new@example.com",
			},
		},
		{
			name:   "odd source shapes are kept whole",
			event:  `{"event_id": "e6", "event_type": "SOMETHING_BRAND_NEW", "created_at": "` + created + `", "source": [1, 2]}`,
			tags:   map[string]string{"category": "other", "stream_type": "admin_logs_streaming", "event_type": "SOMETHING_BRAND_NEW"},
			fields: map[string]interface{}{"event_id": "e6", "source": "[1,2]"},
		},
		{
			name:   "object source without any known key",
			event:  `{"event_id": "e7", "event_type": "SHIELD_ALERT", "created_at": "` + created + `", "source": {"barrier": {"x": 1}}}`,
			tags:   map[string]string{"category": "security", "stream_type": "admin_logs_streaming", "event_type": "SHIELD_ALERT"},
			fields: map[string]interface{}{"event_id": "e7", "source": `{"barrier":{"x":1}}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev boxevents.Event
			require.NoError(t, json.Unmarshal([]byte(tt.event), &ev))
			ts, ok := eventTime(&ev)
			require.True(t, ok)
			m := eventMetric(&ev, boxevents.StreamAdminLogsStreaming, ts, nil)
			expected := testutil.MustMetric(measurement, tt.tags, tt.fields, base.Add(subSecond(ev.EventID)))
			testutil.RequireMetricEqual(t, expected, m)
		})
	}
}

func TestEventTime(t *testing.T) {
	a := boxevents.Event{EventID: "a", EventType: "LOGIN", CreatedAt: "2026-03-04T10:53:43.250-08:00"}
	b := boxevents.Event{EventID: "b", EventType: "LOGIN", CreatedAt: "2026-03-04T10:53:43-08:00"}
	ta, ok := eventTime(&a)
	require.True(t, ok)
	tb, ok := eventTime(&b)
	require.True(t, ok)
	second := time.Date(2026, 3, 4, 18, 53, 43, 0, time.UTC)

	require.Equal(t, second.Add(subSecond("a")), ta.UTC(), "Box's own sub-second part is replaced by the id's")
	require.Equal(t, second.Add(subSecond("b")), tb.UTC())
	require.NotEqual(t, ta, tb, "same second, different points")
	// The offset is the id's 64-bit FNV-1a hash modulo a second, as every earlier version
	// wrote it: an event read again after an upgrade lands on the point written before.
	for _, id := range []string{"a", "b", "1152922976252290886", "8f3c2d1e-0b4a-4c55-9e21-7d6f5a4b3c2e", "é"} {
		h := fnv.New64a()
		h.Write([]byte(id))
		require.Equal(t, time.Duration(h.Sum64()%uint64(time.Second)), subSecond(id), id)
	}

	again, ok := eventTime(&a)
	require.True(t, ok)
	require.Equal(t, ta, again, "a replayed event lands on the same point")

	// recorded_at stands in for a broken created_at.
	c := boxevents.Event{EventID: "c", CreatedAt: "yesterday", RecordedAt: "2026-03-04T10:53:44-08:00"}
	tc, ok := eventTime(&c)
	require.True(t, ok)
	require.Equal(t, second.Add(time.Second+subSecond("c")), tc.UTC())

	// Neither: the caller is told.
	_, ok = eventTime(&boxevents.Event{EventID: "d"})
	require.False(t, ok)
	// Times no line-protocol timestamp can carry count as none.
	// The years are UTC's: 00:30 on 1 January 1970 at +01:00 is still 1969.
	for _, raw := range []string{"9999-12-31T23:59:59Z", "2262-04-12T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
		"2200-01-01T00:00:00Z", "1970-01-01T00:30:00+01:00", "2199-12-31T23:30:00-01:00"} {
		_, ok = eventTime(&boxevents.Event{EventID: "e", CreatedAt: raw})
		require.False(t, ok, raw)
	}
	for _, raw := range []string{"1970-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "1969-12-31T23:30:00-01:00"} {
		_, ok = eventTime(&boxevents.Event{EventID: "e", CreatedAt: raw})
		require.True(t, ok, raw)
	}
}

// An event that carries almost nothing still becomes a metric that can be
// written: without any field the influx serializer refuses it, and the execd
// binary used to exit on that and crash-loop at the same position.
func TestEventMetric_NearlyEmptyEventIsWritable(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	serializer := &influx.Serializer{}
	require.NoError(t, serializer.Init())
	for _, ev := range []boxevents.Event{
		{},
		{Type: "event"},
		{EventType: "LOGIN"},
		{CreatedBy: boxevents.User{}},
	} {
		m := eventMetric(&ev, boxevents.StreamAll, now, nil)
		line, err := serializer.Serialize(m)
		require.NoError(t, err, "%+v", ev)
		id, ok := m.GetField("event_id")
		require.True(t, ok, "every metric has event_id")
		require.Equal(t, ev.EventID, id)
		require.Contains(t, string(line), `event_id=""`)
	}
}

func TestSubSecond(t *testing.T) {
	require.Zero(t, subSecond(""))
	seen := make(map[time.Duration]bool)
	for _, id := range []string{"a", "b", "c", "1152922976252290886", "f1d2d2f924e986ac86fdf7b36c94bcdf32beec15"} {
		d := subSecond(id)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.Less(t, d, time.Second)
		require.False(t, seen[d])
		seen[d] = true
	}
}

// The interner gives the same box for the same value, never a substring of the text it was
// given, and a bounded table: far more distinct values than slots all come back right.
func TestInterner(t *testing.T) {
	in := newInterner()
	page := []byte("alice@example.com bob@example.com")
	alice := in.box(string(page[:17]))
	require.Equal(t, "alice@example.com", alice)
	copy(page, "XXXXX") // the page's buffer is reused for the next page
	require.Equal(t, "alice@example.com", alice, "a copy, not the page's bytes")
	again := in.box("alice@example.com")
	require.Equal(t, alice, again)
	require.Zero(t, testing.AllocsPerRun(100, func() { in.box("alice@example.com") }), "boxed once")
	require.Equal(t, "bob@example.com", in.box(string(page[18:])))

	for i := range 10 * maxInterned {
		v := strconv.Itoa(i)
		require.Equal(t, v, in.box(v))
	}
	require.Len(t, in.values, maxInterned)

	// Field names share the table: made once, from a scratch buffer the next name overwrites.
	name := []byte("details_client_ip")
	got := in.name(name)
	copy(name, "XXXXXXXX")
	require.Equal(t, "details_client_ip", got, "a copy, not the scratch bytes")
	require.Zero(t, testing.AllocsPerRun(100, func() { in.name([]byte("details_client_ip")) }), "made once")
	require.Equal(t, "details_client_ip", in.box("details_client_ip"), "a name and a value of the same text are one slot")
	for i := range 10 * maxInterned {
		v := strconv.Itoa(i)
		require.Equal(t, v, in.name([]byte(v)))
	}
	require.Len(t, in.values, maxInterned)

	// A value or name longer than maxInternedLen comes back right but takes no slot.
	long := strings.Repeat("x", maxInternedLen+1)
	require.Equal(t, long, in.box(long))
	require.Equal(t, long, in.name([]byte(long)))
	for _, v := range in.values {
		require.LessOrEqual(t, len(v.s), maxInternedLen)
	}
}
