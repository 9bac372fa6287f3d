package box_events

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const measurement = "box_events"

// Values of user_tag.
const (
	userTagLogin = "login"
	userTagID    = "id"
	userTagNone  = "none"
)

// converter turns events into metrics as the options that shape metrics say (user_tag,
// enterprise_domains); these never change what is read. It is used by one goroutine, the
// one that fetches.
type converter struct {
	userTag string
	domains []string // enterprise_domains, lower case
	in      *interner
	pool    *metricPool // where metrics come from; nil: always new ones
	text    *textLease  // the text of the page being converted; nil when it is not lent
	// cut counts the additional_details fields left out (see addDetails) since takeCut.
	cut int
}

// takeCut returns the count of left-out details fields and resets it.
func (c *converter) takeCut() int {
	n := c.cut
	c.cut = 0
	return n
}

// eventMetric turns one event into a metric with the default options (tests, fuzzing).
func eventMetric(ev *boxevents.Event, stream boxevents.StreamType, ts time.Time, in *interner) telegraf.Metric {
	c := converter{userTag: userTagLogin, in: in}
	return c.metric(ev, stream, ts)
}

// metric turns one Box event into a metric with timestamp ts (see
// eventTime). Fields Box leaves out are left out, except event_id, which is
// always there (empty when Box sent none): a metric needs at least one field
// to be written at all, and an event that carries almost nothing must still
// be counted rather than stop the stream. Values that repeat across events
// (names, ids, addresses) are boxed once through c.in, which may be nil.
func (c *converter) metric(ev *boxevents.Event, stream boxevents.StreamType, ts time.Time) telegraf.Metric {
	m := c.pool.get(ts)
	if m.pool != nil {
		// Its strings are the page's: the text stays the page's until the metric is given
		// back. The caller holds c.text for it before the metric leaves its goroutine.
		m.text = c.text
	}
	// Tags in ascending key order, as Telegraf keeps them.
	category := categoryOf(ev.EventType)
	m.appendTag("category", category)
	if ev.EventType != "" {
		m.appendTag("event_type", tagValue(ev.EventType))
	}
	m.appendTag("stream_type", string(stream))
	u := &ev.CreatedBy
	loginTagged := false
	switch c.userTag {
	case userTagNone:
	case userTagID:
		if u.ID != "" {
			m.appendTag("user", tagValue(u.ID))
		}
	default:
		if u.Login != "" {
			tag := tagValue(u.Login)
			m.appendTag("user", tag)
			loginTagged = tag == u.Login // else user_login keeps the login as Box sent it
		} else if u.ID != "" {
			m.appendTag("user", tagValue(u.ID))
		}
	}
	m.appendField("event_id", ev.EventID)
	in := c.in
	add := func(key, value string) {
		if value != "" {
			m.appendField(key, in.box(value))
		}
	}
	add("user_id", u.ID)
	if !loginTagged {
		add("user_login", u.Login)
	}
	add("user_name", u.Name)
	add("user_type", u.Type)
	if ev.SessionID != "" {
		m.appendField("session_id", ev.SessionID)
	}
	if ev.RecordedAt != "" {
		m.appendField("recorded_at", ev.RecordedAt)
	}
	add("ip_address", ev.IPAddress)
	add("action_by_id", ev.ActionBy.ID)
	add("action_by_login", ev.ActionBy.Login)
	reached := addSource(m, add, ev)
	add("accessible_by_type", ev.AccessibleBy.Type)
	add("accessible_by_id", ev.AccessibleBy.ID)
	add("accessible_by_login", ev.AccessibleBy.Login)
	add("accessible_by_name", ev.AccessibleBy.Name)
	if len(c.domains) > 0 {
		login := ev.AccessibleBy.Login
		if login == "" {
			login = reached
		}
		if external, ok := c.external(login); ok {
			m.appendField("external", external)
		}
	}
	c.cut += addDetails(m, in, ev.AdditionalDetails, category)
	if ev.JSON != "" {
		m.appendField("event_json", ev.JSON)
	}
	return m
}

// tagValue returns s as a tag value that line protocol carries: each vertical tab becomes a
// space. Telegraf's influx serializer writes a vertical tab as it is (it escapes tabs, line
// feeds, form feeds, carriage returns, spaces, commas and equals signs only), and Telegraf's
// parser (inputs.execd reading telegraf-box, the influxdb listeners) takes it for the white
// space that ends the tags and drops the line: the event would be lost after it was
// acknowledged. A space is escaped and read back as a space.
func tagValue(s string) string {
	if strings.IndexByte(s, '\v') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\v", " ")
}

// external reports whether login's domain lies outside enterprise_domains (a subdomain of a
// listed domain is inside); ok is false when login has no domain.
func (c *converter) external(login string) (external, ok bool) {
	at := strings.LastIndexByte(login, '@')
	if at < 0 || at == len(login)-1 {
		return false, false
	}
	domain := login[at+1:]
	for _, d := range c.domains {
		if len(domain) == len(d) && strings.EqualFold(domain, d) {
			return false, true
		}
		if n := len(domain) - len(d); n > 1 && domain[n-1] == '.' && strings.EqualFold(domain[n:], d) {
			return false, true
		}
	}
	return true, true
}

const (
	// maxInterned bounds the values an interner keeps.
	maxInterned = 8192
	// maxInternedLen bounds the length of a value or name an interner keeps: names, logins,
	// ids, addresses and file names are far shorter, and a longer one (a page from a proxy or a
	// confused Box) is not kept for ever in a slot: 8192 slots then hold at most 8 MiB.
	maxInternedLen = 1024
)

// interner boxes field values that repeat from event to event (user names,
// file names, ids, addresses), so that each distinct value is boxed once
// rather than once per event, and keeps the field names built for
// additional_details, so that each is made once. Both sit in a table of
// maxInterned slots, one slot per hash: a string whose slot another holds
// takes it over, so the table never grows and a lookup is one hash and one
// comparison. Its strings are copies, never substrings of a page. A string longer
// than maxInternedLen is not kept: it is returned as it is.
type interner struct {
	seed   maphash.Seed
	values []internedValue // maxInterned slots
	buf    []byte          // room to build field names in, reused
}

// scratch returns an empty buffer to build a field name in; keep takes it back, grown.
func (in *interner) scratch() []byte {
	if in == nil {
		return make([]byte, 0, 64)
	}
	return in.buf[:0]
}

// keep stores b, from scratch, for the next scratch.
func (in *interner) keep(b []byte) {
	if in != nil && cap(b) <= 1024 {
		in.buf = b[:0]
	}
}

// internedValue is a slot of the interner's table: a value and its box.
type internedValue struct {
	s string
	v any
}

func newInterner() *interner {
	return &interner{seed: maphash.MakeSeed(), values: make([]internedValue, maxInterned), buf: make([]byte, 0, 128)}
}

// name returns b as a string, the same string each time for the same bytes (while no other
// string took its slot).
func (in *interner) name(b []byte) string {
	if in == nil || len(b) > maxInternedLen {
		return string(b)
	}
	slot := &in.values[maphash.Bytes(in.seed, b)%maxInterned] // the slot box(string(b)) takes
	if slot.v == nil || slot.s != string(b) {
		s := string(b)
		slot.s, slot.v = s, s
	}
	return slot.s
}

// box returns s as a field value.
func (in *interner) box(s string) any {
	if in == nil || len(s) > maxInternedLen {
		return s
	}
	slot := &in.values[maphash.String(in.seed, s)%maxInterned]
	if slot.v != nil && slot.s == s {
		return slot.v
	}
	c := strings.Clone(s)
	slot.s, slot.v = c, c
	return slot.v
}

// eventTime returns the metric timestamp of an event: created_at (or
// recorded_at), which Box gives to the second, truncated to the second plus
// a sub-second offset derived from the event id (pointKey). Two events of one
// user and type in the same second then become two points in InfluxDB, and a
// replayed event lands on the very same point. ok is false when neither time
// parses, or when it is outside what a line-protocol timestamp can hold sensibly
// (nanoseconds since 1970 in an int64 end in 2262; InfluxDB refuses points
// beyond): such an event from a confused Box must not fail an output's batch.
func eventTime(ev *boxevents.Event) (ts time.Time, ok bool) {
	return timeWithOffset(ev, pointKey(ev).subSecond())
}

// pointKey returns the key an event's sub-second offset comes from: its id's, or, for an
// event without an id (Box documents one on every event; such an event is still written),
// the hash of everything it holds but event_json. Events without an id in one second then
// stay apart unless they are alike in every respect, and one read again lands on the same
// point, with or without event_json.
func pointKey(ev *boxevents.Event) eventKey {
	if ev.EventID != "" {
		return keyOf(ev.EventID)
	}
	e := *ev
	e.JSON = ""
	return keyOf(fmt.Sprintf("%#v", e))
}

// timeWithOffset is eventTime with the offset, pointKey(ev).subSecond(), given: the reader
// has the id's key already.
func timeWithOffset(ev *boxevents.Event, offset time.Duration) (ts time.Time, ok bool) {
	for _, raw := range [...]string{ev.CreatedAt, ev.RecordedAt} {
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil && inRange(t) {
			return t.Truncate(time.Second).Add(offset), true
		}
	}
	return time.Time{}, false
}

// inRange reports whether t lies in the years a line-protocol timestamp holds sensibly, 1970
// to 2199 (compared as Unix seconds: Year computes the whole date).
func inRange(t time.Time) bool {
	const from, to = 0, 7258118400 // 1970-01-01 and 2200-01-01, 00:00 UTC
	u := t.Unix()
	return u >= from && u < to
}

// subSecond maps an event id to a stable offset in [0, 1s): its FNV-1a hash (keyOf), modulo a
// second.
func subSecond(eventID string) time.Duration {
	if eventID == "" {
		return 0
	}
	return keyOf(eventID).subSecond()
}

// subSecond is the offset of the event whose id has key k (see subSecond).
func (k eventKey) subSecond() time.Duration {
	return time.Duration(uint64(k) % uint64(time.Second))
}

// addSource flattens the event source into source_* fields and returns the
// login the source reaches (a collaborator's email, a user-shaped source's
// login), for external. A source whose shape is not recognised is kept whole
// as the "source" field, so that nothing is dropped.
func addSource(m *boxMetric, add func(key, value string), ev *boxevents.Event) (reached string) {
	if ev.SourceJSON != "" {
		add("source", ev.SourceJSON)
		return ""
	}
	s := &ev.Source
	kind, id, name := s.Type, s.ID, s.Name
	groupID, groupName := s.GroupID, s.GroupName
	switch {
	case s.ItemType != "" || s.ItemID != "":
		kind, id, name = s.ItemType, s.ItemID, s.ItemName
	case kind != "" || id != "":
		if name == "" {
			name = s.Login
		}
		if kind == "group" && groupID == "" {
			groupID, groupName = id, name
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
	add("source_path", s.Path)
	add("source_parent_id", s.Parent.ID)
	add("source_parent_name", s.Parent.Name)
	if s.Size != "" {
		if n, ok := sizeOf(s.Size); ok {
			m.appendField("source_size", n)
		}
	}
	if s.SHA1 != "" {
		m.appendField("source_sha1", s.SHA1)
	}
	add("source_owner_id", s.OwnedBy.ID)
	add("source_owner_login", s.OwnedBy.Login)
	add("source_owner_name", s.OwnedBy.Name)
	add("source_shared_link_access", s.SharedLinkAccess)
	add("source_login", s.Login)
	add("source_role", s.Role)
	add("source_group_id", groupID)
	add("source_group_name", groupName)
	add("source_api_key", s.APIKey)
	if kind != "user" {
		// The collaborator in collaboration-shaped sources.
		add("source_user_id", s.UserID)
		add("source_user_email", s.UserEmail)
		if s.UserEmail != "" {
			return s.UserEmail
		}
	}
	if kind == "user" || s.Type == "user" {
		return s.Login
	}
	return ""
}

// sizeOf reads a source's size: an integer, or a number with a fraction (truncated).
func sizeOf(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -9.2e18 && f <= 9.2e18 {
		return int64(f), true
	}
	return 0, false
}
