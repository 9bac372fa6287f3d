package box_events

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const measurement = "box_events"

// eventMetric turns one Box event into a metric with timestamp ts (see
// eventTime). Fields Box leaves out are left out, except event_id, which is
// always there (empty when Box sent none): a metric needs at least one field
// to be written at all, and an event that carries almost nothing must still
// be counted rather than stop the stream.
func eventMetric(ev *boxevents.Event, stream boxevents.StreamType, ts time.Time) telegraf.Metric {
	// Tags and fields are added one by one: building maps for metric.New
	// first would cost two maps and a sort per event.
	m := metric.New(measurement, nil, nil, ts)
	m.AddTag("stream_type", string(stream))
	if ev.EventType != "" {
		m.AddTag("event_type", ev.EventType)
	}
	m.AddField("event_id", ev.EventID)
	if u := ev.CreatedBy; u != nil {
		if u.Login != "" {
			m.AddTag("user", u.Login)
		} else if u.ID != "" {
			m.AddTag("user", u.ID)
		}
		addString(m, "user_id", u.ID)
		addString(m, "user_name", u.Name)
	}
	addString(m, "session_id", ev.SessionID)
	addString(m, "ip_address", ev.IPAddress)
	if u := ev.ActionBy; u != nil {
		addString(m, "action_by_id", u.ID)
		addString(m, "action_by_login", u.Login)
	}
	addSource(m, ev.Source)
	addAccessibleBy(m, ev.AccessibleBy)
	addString(m, "additional_details", compactJSON(ev.AdditionalDetails))
	return m
}

func addString(m telegraf.Metric, key, value string) {
	if value != "" {
		m.AddField(key, value)
	}
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
func addSource(m telegraf.Metric, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	s, ok := boxevents.ParseSource(raw)
	if !ok {
		m.AddField("source", compactJSON(raw))
		return
	}
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
	addString(m, "source_type", kind)
	addString(m, "source_id", id)
	addString(m, "source_name", name)
	addString(m, "source_parent_id", s.Parent.ID)
	addString(m, "source_owner_id", s.OwnedBy.ID)
	addString(m, "source_owner_login", s.OwnedBy.Login)
	if kind != "user" {
		// The collaborator in collaboration-shaped sources.
		addString(m, "source_user_id", s.UserID)
		addString(m, "source_user_email", s.UserEmail)
	}
	if kind == "" && id == "" {
		m.AddField("source", compactJSON(raw))
	}
}

// addAccessibleBy flattens accessible_by (the user or group a collaboration
// event is about).
func addAccessibleBy(m telegraf.Metric, raw json.RawMessage) {
	who, ok := boxevents.ParseUser(raw)
	if !ok {
		return
	}
	addString(m, "accessible_by_type", who.Type)
	addString(m, "accessible_by_id", who.ID)
	addString(m, "accessible_by_login", who.Login)
	addString(m, "accessible_by_name", who.Name)
}

// compactJSON returns raw without insignificant white space, or "" for
// absent and null values.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if !bytes.ContainsAny(raw, " \t\r\n") {
		return string(raw)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
