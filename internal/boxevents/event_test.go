package boxevents

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func decodeTestdataPage(t *testing.T, name string) *Page {
	t.Helper()
	page, err := decodePage(bytes.NewReader(readTestdata(t, name)), MaxLimit)
	require.NoError(t, err)
	return page
}

func TestDecodePage_UserStream(t *testing.T) {
	page := decodeTestdataPage(t, "events_user_page.json")
	require.Equal(t, 2, page.ChunkSize)
	require.Equal(t, StreamPosition("1152922976252290886"), page.NextStreamPosition)
	require.Len(t, page.Entries, 2)

	e := page.Entries[0]
	require.Equal(t, "event", e.Type)
	require.Equal(t, "f82c3ba03e41f7e8a7608363cc6c0390183c3f83", e.EventID)
	require.Equal(t, "ITEM_UPLOAD", e.EventType)
	require.Equal(t, "2012-12-12T10:53:43-08:00", e.CreatedAt)
	require.Equal(t, "2012-12-12T10:53:48-08:00", e.RecordedAt)
	require.Equal(t, "70090280850c8d2a1933c1", e.SessionID)
	require.Equal(t, &User{Type: "user", ID: "11446498", Name: "Aaron Levie", Login: "ceo@example.com"}, e.CreatedBy)
	require.Nil(t, e.ActionBy)
	require.Nil(t, e.AdditionalDetails)
	require.Nil(t, e.AccessibleBy)
	var src struct {
		Type string `json:"type"`
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	require.NoError(t, json.Unmarshal(e.Source, &src))
	require.Equal(t, "file", src.Type)
	require.Equal(t, "Contract.pdf", src.Name)
	require.Equal(t, 629644, src.Size)

	e = page.Entries[1]
	require.Equal(t, "ITEM_PREVIEW", e.EventType)
	require.Empty(t, e.SessionID) // null
	require.Equal(t, &User{Type: "user", ID: "2", Name: "Unknown User"}, e.CreatedBy)
}

func TestDecodePage_Enterprise(t *testing.T) {
	page := decodeTestdataPage(t, "events_enterprise_page.json")
	require.Equal(t, 4, page.ChunkSize)
	require.Equal(t, StreamPosition("30000000000000001234567"), page.NextStreamPosition)
	require.Len(t, page.Entries, 4)

	download := page.Entries[0]
	require.Equal(t, "DOWNLOAD", download.EventType)
	require.Equal(t, "81.2.69.144", download.IPAddress)
	require.Nil(t, download.ActionBy) // null
	require.JSONEq(t, `{"size":46817,"ekm_id":"3c1a4c1e-7c43-4d4c-9d1a-0c8e4e58a7b1","version_id":"1271563012345",`+
		`"service_id":"152953","service_name":"Box Drive"}`, string(download.AdditionalDetails))

	collab := page.Entries[1]
	require.Equal(t, "COLLABORATION_INVITE", collab.EventType)
	require.Equal(t, "Unknown IP", collab.IPAddress)
	require.Equal(t, &User{Type: "user", ID: "19094712346", Name: "Admin", Login: "admin@example.com"}, collab.ActionBy)
	require.JSONEq(t, `{"type":"user","id":"20134567890","name":"John Smith","login":"john@example.com"}`, string(collab.AccessibleBy))

	shield := page.Entries[2]
	require.Equal(t, "SHIELD_ALERT", shield.EventType)
	require.Nil(t, shield.Source) // null source

	unknown := page.Entries[3]
	require.Equal(t, "SOME_EVENT_BOX_ADDED_LATER", unknown.EventType) // unknown types are kept
	require.JSONEq(t, `{"type":"application","name":"Telegraf Reader","api_key":"abcd1234"}`, string(unknown.Source))
	require.Nil(t, unknown.AdditionalDetails)
}

func TestDecodePage_Empty(t *testing.T) {
	page := decodeTestdataPage(t, "events_empty_page.json")
	require.Equal(t, StreamPosition("0"), page.NextStreamPosition)
	require.False(t, page.NextStreamPosition.Usable())
	require.NotNil(t, page.Entries)
	require.Empty(t, page.Entries)

	page = decodeTestdataPage(t, "events_now_page.json")
	require.Equal(t, StreamPosition("1152922976252290886"), page.NextStreamPosition)

	// A page without position or entries at all.
	page, err := decodePage(strings.NewReader(`{}`), 10)
	require.NoError(t, err)
	require.Equal(t, StreamPosition(""), page.NextStreamPosition)
	require.Empty(t, page.Entries)

	page, err = decodePage(strings.NewReader(`{"entries":null,"next_stream_position":"5"}`), 10)
	require.NoError(t, err)
	require.Empty(t, page.Entries)
	require.Equal(t, StreamPosition("5"), page.NextStreamPosition)
}

func TestDecodePage_Lenient(t *testing.T) {
	page := decodeTestdataPage(t, "events_lenient_page.json")
	require.Equal(t, 5, page.ChunkSize) // "5"
	require.Equal(t, StreamPosition(""), page.NextStreamPosition)
	require.Len(t, page.Entries, 3, "null and 17 are skipped")

	e := page.Entries[0]
	require.Equal(t, "123456789012345678901234567890", e.EventID)
	require.Equal(t, "true", e.SessionID)
	require.Empty(t, e.CreatedAt)
	require.Equal(t, "10", e.IPAddress)
	require.Nil(t, e.CreatedBy, "a string created_by")
	require.Nil(t, e.ActionBy, "an array action_by")
	require.Equal(t, `"shield barrier"`, string(e.Source))
	require.Equal(t, `"{\"legacy\":\"string\"}"`, string(e.AdditionalDetails))
	// The raw value is kept verbatim, spaces included: JSONEq would not check that.
	require.Equal(t, `[{"type": "group", "id": 7}]`, string(e.AccessibleBy)) //nolint:testifylint // byte-exact on purpose, see above

	e = page.Entries[1]
	require.Equal(t, "escé\"aped\\", e.EventID)
	require.Equal(t, &User{Type: "user", ID: "42", Login: "false"}, e.CreatedBy)
	require.JSONEq(t, `{"type":"web_link","item_type":"web_link"}`, string(e.Source))

	require.Equal(t, Event{}, page.Entries[2])
}

func TestEvent_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{name: "numbers and bools as text", in: `{"event_id": 12, "type": false, "session_id": -1.5e3}`,
			want: Event{EventID: "12", Type: "false", SessionID: "-1.5e3"}},
		{name: "objects in string fields are dropped", in: `{"event_id": {"a": "b"}, "event_type": ["X"]}`, want: Event{}},
		{name: "created_by number", in: `{"created_by": 5}`, want: Event{}},
		{name: "created_by null", in: `{"created_by": null}`, want: Event{}},
		{name: "created_by empty object", in: `{"created_by": {}}`, want: Event{CreatedBy: &User{}}},
		{name: "both users", in: `{"created_by": {"id": "1"}, "action_by": {"id": "2"}}`,
			want: Event{CreatedBy: &User{ID: "1"}, ActionBy: &User{ID: "2"}}},
		{name: "action_by only", in: `{"action_by": {"login": "a@b.c"}}`, want: Event{ActionBy: &User{Login: "a@b.c"}}},
		{name: "source array", in: `{"source": [1, {"x": "]"}]}`, want: Event{Source: json.RawMessage(`[1, {"x": "]"}]`)}},
		{name: "source number", in: `{"source": 7}`, want: Event{Source: json.RawMessage(`7`)}},
		{name: "source empty object", in: `{"source": {}}`, want: Event{Source: json.RawMessage(`{}`)}},
		{name: "source null", in: `{"source": null, "additional_details": null, "accessible_by": null}`, want: Event{}},
		{name: "later duplicate key wins", in: `{"event_id": "a", "event_id": "b"}`, want: Event{EventID: "b"}},
		{name: "escaped key", in: `{"event\u005fid": "a"}`, want: Event{EventID: "a"}},
		{name: "keys are case-sensitive", in: `{"Event_ID": "a"}`, want: Event{}},
		{name: "whitespace everywhere", in: " {\n \"event_id\" :\t\"x\" , \"source\" : { \"a\" : [ ] } \n} ",
			want: Event{EventID: "x", Source: json.RawMessage(`{ "a" : [ ] }`)}},
		{name: "braces and quotes inside strings", in: `{"source": {"name": "a}\"{b\\"}, "event_id": "after"}`,
			want: Event{EventID: "after", Source: json.RawMessage(`{"name": "a}\"{b\\"}`)}},
		{name: "invalid utf-8 becomes U+FFFD", in: "{\"event_id\": \"a\xffb\"}", want: Event{EventID: "a\ufffdb"}},
		{name: "unicode kept", in: `{"created_by": {"name": "Zoë 日本"}}`, want: Event{CreatedBy: &User{Name: "Zoë 日本"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			require.NoError(t, json.Unmarshal([]byte(tt.in), &e))
			require.Equal(t, tt.want, e)
		})
	}
}

func TestEvent_UnmarshalJSONErrors(t *testing.T) {
	var e Event
	require.ErrorContains(t, e.UnmarshalJSON([]byte(`[1]`)), "want a JSON object, got an array")
	require.ErrorContains(t, e.UnmarshalJSON([]byte(`{"a":`)), "malformed JSON")
	require.NoError(t, e.UnmarshalJSON([]byte(`null`)))

	var u User
	require.NoError(t, json.Unmarshal([]byte(`"someone"`), &u))
	require.Equal(t, User{}, u)
	require.NoError(t, json.Unmarshal([]byte(`{"id": 7, "name": "N"}`), &u))
	require.Equal(t, User{ID: "7", Name: "N"}, u)
}

func TestEvent_RawFieldsDoNotAlias(t *testing.T) {
	var e Event
	require.NoError(t, json.Unmarshal([]byte(`{"source": [1], "additional_details": [2], "accessible_by": [3]}`), &e))
	e.Source = append(e.Source, '!')
	require.Equal(t, `[2]`, string(e.AdditionalDetails))
	e.AdditionalDetails = append(e.AdditionalDetails, '!')
	require.Equal(t, `[3]`, string(e.AccessibleBy))
}

func TestDecodePage_Errors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantErr   string
		truncated bool
	}{
		{name: "empty body", in: ``, truncated: true},
		{name: "only whitespace", in: " \n", truncated: true},
		{name: "cut after brace", in: `{`, truncated: true},
		{name: "cut in key", in: `{"chunk_si`, truncated: true},
		{name: "cut in entry", in: `{"chunk_size":1,"entries":[{"type":"event","event_id":"ab`, truncated: true},
		{name: "cut between entries", in: `{"chunk_size":1,"entries":[{"type":"event"},`, truncated: true},
		{name: "cut before closing brace", in: `{"entries":[]`, truncated: true},
		{name: "cut in position", in: `{"next_stream_position":11529229762`, truncated: true},
		{name: "html", in: `<html><body>Bad gateway</body></html>`, wantErr: "invalid character '<'"},
		{name: "array", in: `[]`, wantErr: "events page: want a JSON object, got an array"},
		{name: "null", in: `null`, wantErr: "events page: want a JSON object, got null"},
		{name: "entries object", in: `{"entries":{}}`, wantErr: "entries: want an array, got an object"},
		{name: "position bool", in: `{"next_stream_position":true}`,
			wantErr: "next_stream_position: stream position: want a JSON string or number, got a boolean"},
		{name: "position object", in: `{"next_stream_position":{"a":1}}`, wantErr: "got an object"},
		{name: "syntax error in entry", in: `{"entries":[{"a":}]}`, wantErr: "entries[0]: invalid character '}'"},
		{name: "trailing comma", in: `{"entries":[1,]}`, wantErr: "invalid character ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodePage(strings.NewReader(tt.in), 10)
			require.Error(t, err)
			if tt.truncated {
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				return
			}
			require.NotErrorIs(t, err, io.ErrUnexpectedEOF)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestDecodePage_Oversized(t *testing.T) {
	body := readTestdata(t, "events_user_page.json")
	r := &boundedReader{r: bytes.NewReader(body), n: 512, limit: 512}
	_, err := decodePage(r, 10)
	require.ErrorContains(t, err, "response body exceeds 512 bytes")
	require.True(t, isBodyTooLarge(err))

	// Exactly at the limit is fine.
	r = &boundedReader{r: bytes.NewReader(body), n: int64(len(body)), limit: int64(len(body))}
	_, err = decodePage(r, 10)
	require.NoError(t, err)
}

func TestDecodePage_Preallocates(t *testing.T) {
	page, err := decodePage(strings.NewReader(`{"chunk_size":3,"entries":[{},{},{}]}`), 500)
	require.NoError(t, err)
	require.Len(t, page.Entries, 3)
	require.Equal(t, 3, cap(page.Entries), "chunk_size sizes the slice")

	page, err = decodePage(strings.NewReader(`{"entries":[{},{}]}`), 7)
	require.NoError(t, err)
	require.Equal(t, 7, cap(page.Entries), "the limit sizes the slice without chunk_size")

	page, err = decodePage(strings.NewReader(`{"chunk_size":999999999,"entries":[{}]}`), 100)
	require.NoError(t, err)
	require.Equal(t, MaxLimit, cap(page.Entries), "a huge chunk_size is not trusted")
}
