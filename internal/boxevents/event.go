package boxevents

import (
	"encoding/json"
	"errors"
	"strings"
)

// User is Box's User--Mini as it appears in created_by, action_by and similar fields.
// Its fields are lenient: numbers and booleans become their literal text, null becomes "".
type User struct {
	Type  string `json:"type,omitempty"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Login string `json:"login,omitempty"`
}

// UnmarshalJSON decodes a User leniently. A value that is not an object yields the zero User
// rather than an error, because one odd field must not fail a whole page.
func (u *User) UnmarshalJSON(data []byte) error {
	if !json.Valid(data) {
		return errors.New("user: malformed JSON")
	}
	var f [nUserFields][]byte
	*u = User{}
	if !scanUser(data, &f) {
		return nil
	}
	var sb strings.Builder
	var spans [nUserFields]span
	writeFields(&sb, f[:], spans[:])
	s := sb.String()
	u.fill(s, &spans)
	return nil
}

// Event is one entry of an events page. Strings are lenient (numbers and booleans become their
// literal text, null becomes ""), users that are absent, null or not objects are nil, and the
// free-form parts stay raw JSON (nil when absent or null) because their shapes vary by event type.
// Unknown fields are ignored and unknown event types are kept as they are.
type Event struct {
	Type       string `json:"type,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	EventType  string `json:"event_type,omitempty"`
	CreatedAt  string `json:"created_at,omitempty"`
	RecordedAt string `json:"recorded_at,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	IPAddress  string `json:"ip_address,omitempty"`

	CreatedBy *User `json:"created_by,omitempty"`
	ActionBy  *User `json:"action_by,omitempty"`

	Source            json.RawMessage `json:"source,omitempty"`
	AdditionalDetails json.RawMessage `json:"additional_details,omitempty"`
	AccessibleBy      json.RawMessage `json:"accessible_by,omitempty"`
}

// UnmarshalJSON decodes an event leniently (see Event). Only a value that is not a JSON object
// (or malformed JSON) is an error; null leaves the event unchanged, as encoding/json does.
func (e *Event) UnmarshalJSON(data []byte) error {
	if !json.Valid(data) {
		return errors.New("event: malformed JSON")
	}
	if jsonKind(data) == "null" {
		return nil
	}
	if !parseEvent(data, e) {
		return errors.New("event: want a JSON object, got " + jsonKind(data))
	}
	return nil
}

// Indexes of the string fields an event scan collects.
const (
	fType = iota
	fEventID
	fEventType
	fCreatedAt
	fRecordedAt
	fSessionID
	fIPAddress
	nEventFields
)

// Indexes of the string fields of a user.
const (
	uType = iota
	uID
	uName
	uLogin
	nUserFields
)

// Indexes of the raw fields of an event.
const (
	rSource = iota
	rAdditionalDetails
	rAccessibleBy
	nRawFields
)

// span locates one decoded string in the event's shared string.
type span struct{ start, end int }

// eventScan holds the raw values of one event's known fields, found in a single pass.
type eventScan struct {
	str    [nEventFields][]byte
	user   [2][nUserFields][]byte
	isUser [2]bool
	raw    [nRawFields][]byte
}

// parseEvent decodes the JSON object data into e with three allocations at most: one string that
// holds every string field (the fields are substrings of it), one byte slice for the raw fields
// and one for the users. data must be valid JSON; parseEvent returns false if it is not an object.
func parseEvent(data []byte, e *Event) bool {
	m, ok := objectMembers(data)
	if !ok {
		return false
	}
	var sc eventScan
	for {
		key, val, ok := m.next()
		if !ok {
			break
		}
		switch string(memberKey(key)) {
		case "type":
			sc.str[fType] = val
		case "event_id":
			sc.str[fEventID] = val
		case "event_type":
			sc.str[fEventType] = val
		case "created_at":
			sc.str[fCreatedAt] = val
		case "recorded_at":
			sc.str[fRecordedAt] = val
		case "session_id":
			sc.str[fSessionID] = val
		case "ip_address":
			sc.str[fIPAddress] = val
		case "created_by":
			sc.isUser[0] = scanUser(val, &sc.user[0])
		case "action_by":
			sc.isUser[1] = scanUser(val, &sc.user[1])
		case "source":
			sc.raw[rSource] = rawValue(val)
		case "additional_details":
			sc.raw[rAdditionalDetails] = rawValue(val)
		case "accessible_by":
			sc.raw[rAccessibleBy] = rawValue(val)
		}
	}

	// One string for all text fields.
	var sb strings.Builder
	n := 0
	for _, v := range sc.str {
		n += len(v)
	}
	for u := range sc.user {
		if sc.isUser[u] {
			for _, v := range sc.user[u] {
				n += len(v)
			}
		}
	}
	sb.Grow(n)
	var spans [nEventFields]span
	var userSpans [2][nUserFields]span
	writeFields(&sb, sc.str[:], spans[:])
	for u := range sc.user {
		if sc.isUser[u] {
			writeFields(&sb, sc.user[u][:], userSpans[u][:])
		}
	}
	s := sb.String()

	*e = Event{
		Type:       sub(s, spans[fType]),
		EventID:    sub(s, spans[fEventID]),
		EventType:  sub(s, spans[fEventType]),
		CreatedAt:  sub(s, spans[fCreatedAt]),
		RecordedAt: sub(s, spans[fRecordedAt]),
		SessionID:  sub(s, spans[fSessionID]),
		IPAddress:  sub(s, spans[fIPAddress]),
	}

	// One allocation for both users when both are present.
	switch {
	case sc.isUser[0] && sc.isUser[1]:
		us := new([2]User)
		us[0].fill(s, &userSpans[0])
		us[1].fill(s, &userSpans[1])
		e.CreatedBy, e.ActionBy = &us[0], &us[1]
	case sc.isUser[0]:
		e.CreatedBy = new(User)
		e.CreatedBy.fill(s, &userSpans[0])
	case sc.isUser[1]:
		e.ActionBy = new(User)
		e.ActionBy.fill(s, &userSpans[1])
	}

	// One backing array for the raw fields; each field is capped so appends cannot overlap.
	n = 0
	for _, v := range sc.raw {
		n += len(v)
	}
	if n > 0 {
		buf := make([]byte, 0, n)
		var raw [nRawFields]json.RawMessage
		for i, v := range sc.raw {
			if v != nil {
				start := len(buf)
				buf = append(buf, v...)
				raw[i] = buf[start:len(buf):len(buf)]
			}
		}
		e.Source, e.AdditionalDetails, e.AccessibleBy = raw[rSource], raw[rAdditionalDetails], raw[rAccessibleBy]
	}
	return true
}

// scanUser collects the string fields of the user object v; it returns false if v is not an object.
func scanUser(v []byte, f *[nUserFields][]byte) bool {
	*f = [nUserFields][]byte{}
	m, ok := objectMembers(v)
	if !ok {
		return false
	}
	for {
		key, val, ok := m.next()
		if !ok {
			return true
		}
		switch string(memberKey(key)) {
		case "type":
			f[uType] = val
		case "id":
			f[uID] = val
		case "name":
			f[uName] = val
		case "login":
			f[uLogin] = val
		}
	}
}

// rawValue returns v, or nil when v is JSON null.
func rawValue(v []byte) []byte {
	if len(v) == 4 && string(v) == "null" {
		return nil
	}
	return v
}

// writeFields appends the lenient text of each value to sb and records where it went.
func writeFields(sb *strings.Builder, vals [][]byte, spans []span) {
	for i, v := range vals {
		start := sb.Len()
		appendLenient(sb, v)
		spans[i] = span{start, sb.Len()}
	}
}

// sub returns s[sp.start:sp.end], or "" (not a substring that pins s) when the span is empty.
func sub(s string, sp span) string {
	if sp.start == sp.end {
		return ""
	}
	return s[sp.start:sp.end]
}

func (u *User) fill(s string, sp *[nUserFields]span) {
	*u = User{
		Type:  sub(s, sp[uType]),
		ID:    sub(s, sp[uID]),
		Name:  sub(s, sp[uName]),
		Login: sub(s, sp[uLogin]),
	}
}
