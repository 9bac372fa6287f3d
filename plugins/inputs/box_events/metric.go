package box_events

import (
	"hash/fnv"
	"strings"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const measurement = "box_events"

// eventMetric turns one Box event into a metric with timestamp ts (see
// eventTime). Fields Box leaves out are left out, except event_id, which is
// always there (empty when Box sent none): a metric needs at least one field
// to be written at all, and an event that carries almost nothing must still
// be counted rather than stop the stream. Values that repeat across events
// (names, ids, addresses) are boxed once through in, which may be nil.
func eventMetric(ev *boxevents.Event, stream boxevents.StreamType, ts time.Time, in *interner) telegraf.Metric {
	m := newBoxMetric(measurement, ts)
	// Tags in ascending key order, as Telegraf keeps them.
	if ev.EventType != "" {
		m.appendTag("event_type", ev.EventType)
	}
	m.appendTag("stream_type", string(stream))
	if u := &ev.CreatedBy; u.Login != "" {
		m.appendTag("user", u.Login)
	} else if u.ID != "" {
		m.appendTag("user", u.ID)
	}
	m.appendField("event_id", ev.EventID)
	add := func(key, value string) {
		if value != "" {
			m.appendField(key, in.box(value))
		}
	}
	add("user_id", ev.CreatedBy.ID)
	add("user_name", ev.CreatedBy.Name)
	if ev.SessionID != "" {
		m.appendField("session_id", ev.SessionID)
	}
	add("ip_address", ev.IPAddress)
	add("action_by_id", ev.ActionBy.ID)
	add("action_by_login", ev.ActionBy.Login)
	addSource(add, ev)
	add("accessible_by_type", ev.AccessibleBy.Type)
	add("accessible_by_id", ev.AccessibleBy.ID)
	add("accessible_by_login", ev.AccessibleBy.Login)
	add("accessible_by_name", ev.AccessibleBy.Name)
	if ev.AdditionalDetails != "" {
		m.appendField("additional_details", ev.AdditionalDetails)
	}
	return m
}

// maxInterned bounds the values an interner keeps.
const maxInterned = 8192

// interner boxes field values that repeat from event to event (user names,
// file names, ids, addresses), so that each distinct value is boxed once
// rather than once per event. It keeps at most maxInterned values and starts
// afresh when full; its values are copies, never substrings of a page.
type interner struct {
	values map[string]any
}

func newInterner() *interner {
	return &interner{values: make(map[string]any, maxInterned)}
}

// box returns s as a field value.
func (in *interner) box(s string) any {
	if in == nil {
		return s
	}
	if v, ok := in.values[s]; ok {
		return v
	}
	if len(in.values) >= maxInterned {
		clear(in.values)
	}
	c := strings.Clone(s)
	v := any(c)
	in.values[c] = v
	return v
}

// eventTime returns the metric timestamp of an event: created_at (or
// recorded_at), which Box gives to the second, truncated to the second plus
// a sub-second offset derived from the event id. Two events of one user and
// type in the same second then become two points in InfluxDB, and a replayed
// event lands on the very same point. ok is false when neither time parses,
// or when it is outside what a line-protocol timestamp can hold sensibly
// (nanoseconds since 1970 in an int64 end in 2262; InfluxDB refuses points
// beyond): such an event from a confused Box must not fail an output's batch.
func eventTime(ev *boxevents.Event) (ts time.Time, ok bool) {
	for _, raw := range [...]string{ev.CreatedAt, ev.RecordedAt} {
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil && t.Year() >= 1970 && t.Year() < 2200 {
			return t.Truncate(time.Second).Add(subSecond(ev.EventID)), true
		}
	}
	return time.Time{}, false
}

// subSecond maps an event id to a stable offset in [0, 1s).
func subSecond(eventID string) time.Duration {
	if eventID == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(eventID))
	return time.Duration(h.Sum64() % uint64(time.Second))
}

// addSource flattens the event source into source_* fields. A source whose
// shape is not recognised is kept whole as the "source" field, so that
// nothing is dropped.
func addSource(add func(key, value string), ev *boxevents.Event) {
	if ev.SourceJSON != "" {
		add("source", ev.SourceJSON)
		return
	}
	s := &ev.Source
	kind, id, name := s.Type, s.ID, s.Name
	switch {
	case s.ItemType != "" || s.ItemID != "":
		kind, id, name = s.ItemType, s.ItemID, s.ItemName
	case kind != "" || id != "":
		if name == "" {
			name = s.Login
		}
	case s.FileID != "":
		kind, id, name = "file", s.FileID, s.FileName
	case s.FolderID != "":
		kind, id, name = "folder", s.FolderID, s.FolderName
	case s.GroupID != "":
		kind, id, name = "group", s.GroupID, s.GroupName
	case s.UserID != "":
		kind, id, name = "user", s.UserID, s.UserName
	}
	add("source_type", kind)
	add("source_id", id)
	add("source_name", name)
	add("source_parent_id", s.Parent.ID)
	add("source_owner_id", s.OwnedBy.ID)
	add("source_owner_login", s.OwnedBy.Login)
	if kind != "user" {
		// The collaborator in collaboration-shaped sources.
		add("source_user_id", s.UserID)
		add("source_user_email", s.UserEmail)
	}
}
