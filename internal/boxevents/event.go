package boxevents

import "fmt"

// User is Box's User--Mini as it appears in created_by, action_by, accessible_by and in a
// source's parent and owned_by. Its fields are lenient: numbers and booleans become their
// literal text, null becomes "". A value that is absent, null or not an object gives the zero
// User.
type User struct {
	Type  string `json:"type,omitempty"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Login string `json:"login,omitempty"`
}

// UnmarshalJSON decodes a User leniently: a value that is not an object yields the zero User
// rather than an error, because one odd field must not fail a whole page.
func (u *User) UnmarshalJSON(data []byte) error {
	var sp userSpans
	arena, _, err := parseObject(data, func(p *parser) error {
		var err error
		sp, err = p.user()
		return err
	})
	if err != nil {
		return fmt.Errorf("user: %w", err)
	}
	*u = User{}
	sp.fill(arena, u) // zero for anything but an object
	return nil
}

// Source is what an event's source says about what the event is about, read from any of the
// shapes Box uses for it: items (type, id, name), EventSource (item_type, item_id,
// item_name), users (login), groups, applications, and the enterprise collaboration shape
// (file_id or folder_id, with user_id, user_name or user_email, or group_id and group_name).
// Every field is lenient like Event's strings; Parent and OwnedBy are zero when absent.
type Source struct {
	Type, ID, Name, Login       string
	ItemType, ItemID, ItemName  string
	FileID, FileName            string
	FolderID, FolderName        string
	GroupID, GroupName          string
	UserID, UserName, UserEmail string
	Parent, OwnedBy             User

	// Path is the item's folder path from path_collection: each entry's name after a "/"
	// ("/All Files/Finance"), "" without path_collection entries. The item's own name is Name.
	Path string
	// Size and SHA1 are the item's size and sha1, as Box sent them (lenient strings).
	Size, SHA1 string
	// SharedLinkAccess is shared_link.access ("open", "company", "collaborators").
	SharedLinkAccess string
	// Role is a user-shaped source's role (the new role of CHANGE_ADMIN_ROLE's user).
	Role string
	// APIKey is an application source's api_key (its client id).
	APIKey string
}

// Event is one entry of an events page. Strings are lenient (numbers and booleans become their
// literal text, null becomes ""), users that are absent, null or not objects are zero, and the
// free-form parts are kept as compact JSON text. Unknown fields are ignored and unknown event
// types are kept as they are. An event decoded from a page shares one string with the page's
// other events; nothing refers to the page's body.
type Event struct {
	Type       string
	EventID    string
	EventType  string
	CreatedAt  string
	RecordedAt string
	SessionID  string
	IPAddress  string

	CreatedBy, ActionBy, AccessibleBy User

	// Source is what the source object says. SourceJSON is the source as compact JSON when it is
	// present but not an object, or an object without any of type, id, item_type, item_id,
	// file_id, folder_id, group_id and user_id (a shape this package does not know): kept whole,
	// so that nothing is dropped. Source is then zero.
	Source     Source
	SourceJSON string
	// AdditionalDetails is additional_details as compact JSON, "" when absent or null.
	AdditionalDetails string
	// JSON is the whole event as compact JSON, kept only when Config.KeepEventJSON is set.
	JSON string
}

// UnmarshalJSON decodes an event leniently (see Event). Only a value that is not a JSON object
// (or malformed JSON) is an error; null leaves the event unchanged, as encoding/json does.
func (e *Event) UnmarshalJSON(data []byte) error {
	var sp eventSpans
	arena, kind, err := parseObject(data, func(p *parser) error { return p.event(&sp) })
	switch {
	case err != nil:
		return fmt.Errorf("event: %w", err)
	case kind == 'n':
		return nil
	case kind != '{':
		return fmt.Errorf("event: want a JSON object, got %s", kindName(kind))
	}
	*e = Event{}
	sp.fill(arena, e)
	return nil
}
