package boxevents

import (
	"encoding/json"
)

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
}

// sourceShape is Source on the wire.
type sourceShape struct {
	Type       flexString `json:"type"`
	ID         flexString `json:"id"`
	Name       flexString `json:"name"`
	Login      flexString `json:"login"`
	ItemType   flexString `json:"item_type"`
	ItemID     flexString `json:"item_id"`
	ItemName   flexString `json:"item_name"`
	FileID     flexString `json:"file_id"`
	FileName   flexString `json:"file_name"`
	FolderID   flexString `json:"folder_id"`
	FolderName flexString `json:"folder_name"`
	GroupID    flexString `json:"group_id"`
	GroupName  flexString `json:"group_name"`
	UserID     flexString `json:"user_id"`
	UserName   flexString `json:"user_name"`
	UserEmail  flexString `json:"user_email"`
	Parent     User       `json:"parent"`
	OwnedBy    User       `json:"owned_by"`
}

// ParseSource reads an event's raw source (Event.Source). ok is false when raw is not a JSON
// object: null, absent, an array, a string, or malformed.
func ParseSource(raw json.RawMessage) (s Source, ok bool) {
	raw = trimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Source{}, false
	}
	var w sourceShape
	if json.Unmarshal(raw, &w) != nil {
		return Source{}, false
	}
	return Source{
		Type: string(w.Type), ID: string(w.ID), Name: string(w.Name), Login: string(w.Login),
		ItemType: string(w.ItemType), ItemID: string(w.ItemID), ItemName: string(w.ItemName),
		FileID: string(w.FileID), FileName: string(w.FileName),
		FolderID: string(w.FolderID), FolderName: string(w.FolderName),
		GroupID: string(w.GroupID), GroupName: string(w.GroupName),
		UserID: string(w.UserID), UserName: string(w.UserName), UserEmail: string(w.UserEmail),
		Parent: w.Parent, OwnedBy: w.OwnedBy,
	}, true
}

// ParseUser reads a raw user-shaped value (accessible_by, for instance) leniently. ok is false
// when raw is not a JSON object.
func ParseUser(raw json.RawMessage) (u User, ok bool) {
	raw = trimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &u) != nil {
		return User{}, false
	}
	return u, true
}
