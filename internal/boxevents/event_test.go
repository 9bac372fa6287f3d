package boxevents

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func decodeTestdataPage(t *testing.T, name string) *Page {
	t.Helper()
	page, err := decodePage(readTestdata(t, name), MaxLimit)
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
	require.Equal(t, User{Type: "user", ID: "11446498", Name: "Aaron Levie", Login: "ceo@example.com"}, e.CreatedBy)
	require.Zero(t, e.ActionBy)
	require.Empty(t, e.AdditionalDetails)
	require.Zero(t, e.AccessibleBy)
	require.Equal(t, "file", e.Source.Type)
	require.Equal(t, "Contract.pdf", e.Source.Name)
	require.Equal(t, "/All Files", e.Source.Path)
	require.Equal(t, "629644", e.Source.Size)
	require.Equal(t, "85136C79CBF9FE36BB9D05D0639C70C265C18D37", e.Source.SHA1)
	require.Empty(t, e.SourceJSON, "a known shape is read, not kept whole")
	require.Empty(t, e.JSON, "the whole event is kept only when asked")

	e = page.Entries[1]
	require.Equal(t, "ITEM_PREVIEW", e.EventType)
	require.Empty(t, e.SessionID) // null
	require.Equal(t, User{Type: "user", ID: "2", Name: "Unknown User"}, e.CreatedBy)
}

func TestDecodePage_Enterprise(t *testing.T) {
	page := decodeTestdataPage(t, "events_enterprise_page.json")
	require.Equal(t, 4, page.ChunkSize)
	require.Equal(t, StreamPosition("30000000000000001234567"), page.NextStreamPosition)
	require.Len(t, page.Entries, 4)

	download := page.Entries[0]
	require.Equal(t, "DOWNLOAD", download.EventType)
	require.Equal(t, "81.2.69.144", download.IPAddress)
	require.Zero(t, download.ActionBy) // null
	require.JSONEq(t, `{"size":46817,"ekm_id":"3c1a4c1e-7c43-4d4c-9d1a-0c8e4e58a7b1","version_id":"1271563012345",`+
		`"service_id":"152953","service_name":"Box Drive"}`, download.AdditionalDetails)

	collab := page.Entries[1]
	require.Equal(t, "COLLABORATION_INVITE", collab.EventType)
	require.Equal(t, "Unknown IP", collab.IPAddress)
	require.Equal(t, User{Type: "user", ID: "19094712346", Name: "Admin", Login: "admin@example.com"}, collab.ActionBy)
	require.Equal(t, User{Type: "user", ID: "20134567890", Name: "John Smith", Login: "john@example.com"}, collab.AccessibleBy)

	shield := page.Entries[2]
	require.Equal(t, "SHIELD_ALERT", shield.EventType)
	require.Zero(t, shield.Source) // null source
	require.Empty(t, shield.SourceJSON)

	unknown := page.Entries[3]
	require.Equal(t, "SOME_EVENT_BOX_ADDED_LATER", unknown.EventType) // unknown types are kept
	require.Equal(t, Source{Type: "application", Name: "Telegraf Reader", APIKey: "abcd1234"}, unknown.Source)
	require.Empty(t, unknown.AdditionalDetails)
}

func TestDecodePage_KeepEventJSON(t *testing.T) {
	body := []byte(`{"entries":[ {"type": "event", "event_id":"e1",` + "\n" + ` "source":{"type":"file","id":"1",` +
		`"path_collection":{"entries":[{"name":"All Files"},{"name":"Finance"},{"name":"Q3"}]},` +
		`"shared_link":{"access":"open","url":"https://app.box.com/s/x y"}}}, {"event_id":"e2"}]}`)
	page, err := decodePageJSON(body, 10, true)
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	want := `{"type":"event","event_id":"e1","source":{"type":"file","id":"1","path_collection":{"entries":` +
		`[{"name":"All Files"},{"name":"Finance"},{"name":"Q3"}]},"shared_link":{"access":"open","url":"https://app.box.com/s/x y"}}}`
	// The compact text itself is under test, not only its meaning.
	require.Equal(t, want, page.Entries[0].JSON)
	require.Equal(t, "/All Files/Finance/Q3", page.Entries[0].Source.Path)
	require.Equal(t, "open", page.Entries[0].Source.SharedLinkAccess)
	require.Equal(t, `{"event_id":"e2"}`, page.Entries[1].JSON) //nolint:testifylint // compact text, as above
}

func TestDecodePage_Families(t *testing.T) {
	page := decodeTestdataPage(t, "events_families_page.json")
	byType := make(map[string]Event)
	for _, e := range page.Entries {
		byType[e.EventType] = e
	}
	require.Equal(t, "coadmin", byType["CHANGE_ADMIN_ROLE"].Source.Role)
	require.Equal(t, "lee.chen@example.com", byType["CHANGE_ADMIN_ROLE"].Source.Login)
	require.Equal(t, "q8ps1tk2n9z0bv7c", byType["ENTERPRISE_APP_AUTHORIZATION_UPDATE"].Source.APIKey)
	shared := byType["ITEM_SHARED_CREATE"].Source
	require.Equal(t, "/All Files/Finance/Q3", shared.Path)
	require.Equal(t, "open", shared.SharedLinkAccess)
	require.Equal(t, "629644", shared.Size)
	require.Equal(t, "Dana Ortiz", shared.OwnedBy.Name)
	require.Equal(t, "Q3", shared.Parent.Name)
	group := byType["GROUP_ADD_USER"].Source
	require.Equal(t, Source{GroupID: "1122999", GroupName: "AdminGroup", UserID: "20110003", UserName: "Lee Chen"}, group)
	require.Empty(t, byType["SHIELD_ALERT"].Source.Path)
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
	page, err := decodePage([]byte(`{}`), 10)
	require.NoError(t, err)
	require.Equal(t, StreamPosition(""), page.NextStreamPosition)
	require.Empty(t, page.Entries)

	page, err = decodePage([]byte(`{"entries":null,"next_stream_position":"5"}`), 10)
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
	require.Zero(t, e.CreatedBy, "a string created_by")
	require.Zero(t, e.ActionBy, "an array action_by")
	require.Equal(t, `"shield barrier"`, e.SourceJSON, "a source that is not an object is kept whole")
	require.Zero(t, e.Source)
	require.Equal(t, `"{\"legacy\":\"string\"}"`, e.AdditionalDetails)
	require.Zero(t, e.AccessibleBy, "an array accessible_by")

	e = page.Entries[1]
	require.Equal(t, "escé\"aped\\", e.EventID)
	require.Equal(t, User{Type: "user", ID: "42", Login: "false"}, e.CreatedBy)
	require.Equal(t, Source{Type: "web_link", ItemType: "web_link"}, e.Source)

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
		{name: "created_by empty object", in: `{"created_by": {}}`, want: Event{}},
		{name: "both users", in: `{"created_by": {"id": "1"}, "action_by": {"id": "2"}}`,
			want: Event{CreatedBy: User{ID: "1"}, ActionBy: User{ID: "2"}}},
		{name: "action_by only", in: `{"action_by": {"login": "a@b.c"}}`, want: Event{ActionBy: User{Login: "a@b.c"}}},
		{name: "source array", in: `{"source": [1, {"x": "]"}]}`, want: Event{SourceJSON: `[1,{"x":"]"}]`}},
		{name: "source number", in: `{"source": 7}`, want: Event{SourceJSON: `7`}},
		{name: "source empty object", in: `{"source": {}}`, want: Event{SourceJSON: `{}`}},
		{name: "source without identifying keys", in: `{"source": {"name": "x", "parent": {"id": 1}}}`,
			want: Event{SourceJSON: `{"name":"x","parent":{"id":1}}`}},
		{name: "source shapes", in: `{"source": {"folder_id": 44, "user_email": "x@p", "owned_by": {"login": "o"}}}`,
			want: Event{Source: Source{FolderID: "44", UserEmail: "x@p", OwnedBy: User{Login: "o"}}}},
		{name: "source null", in: `{"source": null, "additional_details": null, "accessible_by": null}`, want: Event{}},
		{name: "later duplicate key wins", in: `{"event_id": "a", "event_id": "b"}`, want: Event{EventID: "b"}},
		{name: "later duplicate source wins", in: `{"source": {"id": "1"}, "source": "s"}`, want: Event{SourceJSON: `"s"`}},
		{name: "escaped key", in: `{"event\u005fid": "a"}`, want: Event{EventID: "a"}},
		{name: "keys are case-sensitive", in: `{"Event_ID": "a"}`, want: Event{}},
		{name: "whitespace everywhere", in: " {\n \"event_id\" :\t\"x\" , \"additional_details\" : { \"a\" : [ ] } \n} ",
			want: Event{EventID: "x", AdditionalDetails: `{"a":[]}`}},
		{name: "braces and quotes inside strings", in: `{"additional_details": {"name": "a} \"{b\\"}, "event_id": "after"}`,
			want: Event{EventID: "after", AdditionalDetails: `{"name":"a} \"{b\\"}`}},
		{name: "invalid utf-8 becomes U+FFFD", in: "{\"event_id\": \"a\xffb\"}", want: Event{EventID: "a\ufffdb"}},
		{name: "unicode kept", in: `{"created_by": {"name": "Zoë 日本"}}`, want: Event{CreatedBy: User{Name: "Zoë 日本"}}},
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
			_, err := decodePage([]byte(tt.in), 10)
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
	var buf []byte
	_, err := readBody(&boundedReader{r: bytes.NewReader(body), n: 512, limit: 512}, &buf)
	require.ErrorContains(t, err, "response body exceeds 512 bytes")
	require.True(t, isBodyTooLarge(err))

	// Exactly at the limit is fine.
	got, err := readBody(&boundedReader{r: bytes.NewReader(body), n: int64(len(body)), limit: int64(len(body))}, &buf)
	require.NoError(t, err)
	_, err = decodePage(got, 10)
	require.NoError(t, err)
}

func TestDecodePage_NothingRefersToTheBody(t *testing.T) {
	body := readTestdata(t, "events_enterprise_page.json")
	page, err := decodePage(body, 10)
	require.NoError(t, err)
	want := fmt.Sprintf("%+v", page)
	for i := range body {
		body[i] = 'x' // the buffer is reused for the next page
	}
	require.Equal(t, want, fmt.Sprintf("%+v", page))
}

func TestDecodePage_DeepNestingRefused(t *testing.T) {
	deep := `{"entries":[{"additional_details":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}]}`
	_, err := decodePage([]byte(deep), 10)
	require.ErrorContains(t, err, "exceeded max depth")
	ok := `{"entries":[{"additional_details":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}]}`
	page, err := decodePage([]byte(ok), 10)
	require.NoError(t, err)
	require.Len(t, page.Entries, 1)
}

func TestSpecial8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	// first returns the index of w's first byte that is not plain, or 8.
	first := func(w []byte) int {
		for i, c := range w {
			if !plain(c) {
				return i
			}
		}
		return 8
	}
	// marked returns the index of the lowest byte special8 marks, or 8.
	marked := func(w []byte) int { return bits.TrailingZeros64(special8(binary.LittleEndian.Uint64(w))) >> 3 }
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			require.Equal(t, first(w), marked(w), "byte %#x at %d", c, pos)
		}
	}
	// Two or more odd bytes in one word: a borrow from one must not hide or precede another.
	for _, w := range []string{"\x00\"aaaaaa", "a\x1f\\aaaaa", "aaaaaa\x7f\x80", "\x20\x21aaaa\x1f!", "\x00\x00\x00\x00\x00\x00\x00\x00"} {
		require.Equal(t, first([]byte(w)), marked([]byte(w)), "%q", w)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	odd := []byte{0, 0x1f, 0x20, '"', '!', '#', '\\', '[', ']', 0x7f, 0x80, 0xa2, 0xdf, 0xff}
	for range 200_000 {
		w := []byte("abcdefgh")
		for range 1 + rng.IntN(3) {
			w[rng.IntN(8)] = odd[rng.IntN(len(odd))]
		}
		require.Equal(t, first(w), marked(w), "%q", w)
	}
}

// Strings whose escapes, control characters or non-ASCII bytes fall at every offset of the
// eight-byte fast path decode as encoding/json decodes them, or fail where it fails.
func TestDecodePage_StringsAtEveryOffset(t *testing.T) {
	specials := []string{`\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`, "é", "日本", "\xff", "\x01", "\x1f", "\x7f", ``}
	for _, special := range specials {
		for k := range 17 {
			value := strings.Repeat("a", k) + special + strings.Repeat("b", 9)
			body := `{"entries":[{"type":"event","event_type":"` + value + `"}]}`
			var want struct {
				Entries []struct {
					EventType string `json:"event_type"`
				} `json:"entries"`
			}
			wantErr := json.Unmarshal([]byte(body), &want)
			page, err := decodePage([]byte(body), 10)
			if wantErr != nil {
				require.Error(t, err, "%q", value)
				continue
			}
			require.NoError(t, err, "%q", value)
			require.Equal(t, want.Entries[0].EventType, page.Entries[0].EventType, "%q", value)
		}
	}
}

// A client reuses a page's scratch (body buffer, spans) for the next page: what the first
// page decoded does not change, and a smaller next page has only its own events.
func TestDecodePage_ScratchReused(t *testing.T) {
	var pool scratchPool
	big := readTestdata(t, "events_enterprise_page.json")
	small := []byte(`{"chunk_size":1,"next_stream_position":"9","entries":[{"type":"event","event_id":"only"}]}`)

	s := pool.get()
	s.body = append(s.body[:0], big...)
	first, err := decodePageInto(s.body, 10, false, s, nil)
	require.NoError(t, err)
	want := fmt.Sprintf("%+v", first)
	pool.put(s)

	s2 := pool.get()
	require.Same(t, s, s2)
	s2.body = append(s2.body[:0], small...)
	second, err := decodePageInto(s2.body, 10, false, s2, nil)
	require.NoError(t, err)
	require.Len(t, second.Entries, 1)
	require.Equal(t, "only", second.Entries[0].EventID)
	for i := range s2.body {
		s2.body[i] = 'x'
	}
	pool.put(s2)
	require.Equal(t, want, fmt.Sprintf("%+v", first))

	// At most maxScratch are kept, and an outsized body buffer is dropped.
	for range maxScratch + 2 {
		pool.put(&pageScratch{})
	}
	require.Len(t, pool.free, maxScratch)
	pool.free = nil
	pool.put(&pageScratch{body: make([]byte, 0, maxPooledBody+1)})
	require.Empty(t, pool.free)
	// The spans of a page far longer than asked for are not kept either.
	pool.put(&pageScratch{spans: make([]eventSpans, 3, maxPooledSpans+1)})
	require.Len(t, pool.free, 1)
	require.Nil(t, pool.free[0].spans)
}

// Keys take a byte-by-byte path of their own: escaped keys still name their field, and a key
// that is not valid JSON fails the page as encoding/json fails it.
func TestDecodePage_Keys(t *testing.T) {
	page, err := decodePage([]byte(`{"entries":[{"\u0065vent_id":"x","event_\u0074ype":"ITEM_UPLOAD","ünknown":1,"a\"b":2}]}`), 10)
	require.NoError(t, err)
	require.Equal(t, "x", page.Entries[0].EventID)
	require.Equal(t, "ITEM_UPLOAD", page.Entries[0].EventType)
	for _, body := range []string{"{\"event\x01id\":1}", `{"event\qid":1}`, "{\"\xff\":1}", `{"event_id`, `{"event_id"`, `{"":1}`} {
		_, err := decodePage([]byte(body), 10)
		require.Equal(t, json.Valid([]byte(body)), err == nil, "%q: %v", body, err)
	}
}
