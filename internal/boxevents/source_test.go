package boxevents

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		raw  string
		want Source
		ok   bool
	}{
		{`{"type":"file","id":"12","name":"a.pdf","parent":{"type":"folder","id":9},"owned_by":{"id":"7","login":"o@x"}}`,
			Source{Type: "file", ID: "12", Name: "a.pdf", Parent: User{Type: "folder", ID: "9"}, OwnedBy: User{ID: "7", Login: "o@x"}}, true},
		{`{"item_type":"file","item_id":873,"item_name":"b","parent":"not an object"}`,
			Source{ItemType: "file", ItemID: "873", ItemName: "b"}, true},
		{`{"folder_id":"44","folder_name":"Deals","user_id":8,"user_email":"x@p.com","group_id":null}`,
			Source{FolderID: "44", FolderName: "Deals", UserID: "8", UserEmail: "x@p.com"}, true},
		{` {"type":"user","id":"31","login":"n@x","name":true} `, Source{Type: "user", ID: "31", Login: "n@x", Name: "true"}, true},
		{`{}`, Source{}, true},
		{`[1,2]`, Source{}, false},
		{`"file"`, Source{}, false},
		{`null`, Source{}, false},
		{``, Source{}, false},
		{`{"type":`, Source{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSource(json.RawMessage(tt.raw))
		require.Equal(t, tt.ok, ok, tt.raw)
		require.Equal(t, tt.want, got, tt.raw)
	}
}

func TestParseUser(t *testing.T) {
	u, ok := ParseUser(json.RawMessage(`{"type":"group","id":5,"name":"Legal"}`))
	require.True(t, ok)
	require.Equal(t, User{Type: "group", ID: "5", Name: "Legal"}, u)
	for _, raw := range []string{`[]`, `null`, ``, `12`} {
		_, ok := ParseUser(json.RawMessage(raw))
		require.False(t, ok, raw)
	}
}
