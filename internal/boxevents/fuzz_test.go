package boxevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// staleEvents returns empty room for n entries whose every field holds something (a string
// "stale", a number 7), as room given back but not cleared would.
func staleEvents(n int) []Event {
	events := make([]Event, n)
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("stale")
		case reflect.Int, reflect.Int64:
			v.SetInt(7)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Field(i).CanSet() {
					fill(v.Field(i))
				}
			}
		}
	}
	for i := range events {
		fill(reflect.ValueOf(&events[i]).Elem())
	}
	return events[:0]
}

// addTestdataSeeds seeds f with every testdata file matching pattern.
func addTestdataSeeds(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	require.NoError(f, err)
	require.NotEmpty(f, files)
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(b)
	}
}

func FuzzDecodePage(f *testing.F) {
	addTestdataSeeds(f, "events_*.json")
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"next_stream_position":0}`, `{"next_stream_position":"0","entries":[]}`,
		`{"next_stream_position":9007199254740993}`, `{"next_stream_position":-1.5e+300}`,
		`{"entries":[null,1,"x",[],{}]}`, `{"entries":[{"event_id":"a","event_id":"b","created_by":{"id":1}}]}`,
		`{"entries":[{"source":{"a":"}\"]"},"accessible_by":[]}]}`, `{"entries":[{"event\u005fid":"\ud83d\ude00"}]}`,
		`{"chunk_size":2,"entries":[{}]`, `<html>`,
		`{"entries":[{"source":{"type":"file","id":1,"size":12.5,"sha1":null,"path_collection":{"entries":[{"name":"All Files"},` +
			`{"name":"A\u002fB","name":"C"},7,{"id":"3"}],"entries":[{"name":"X"}]},"shared_link":{"access":"open","access":{}}}}]}`,
		`{"entries":[{"source":{"type":"user","id":"5","login":"a@b.example","role":"coadmin","path_collection":[],"shared_link":"x"}}]}`,
		`{"entries":[{"source":{"type":"application","api_key":"k","name":"App","path_collection":{"entries":null}},` +
			`"additional_details":{"shield_alert":{"risk_score":85,"rule_id":4103}}}]}`,
		`{"entries":[{"source":{"path_collection":{"entries":[{"name":"All Files"}]}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		page, err := decodePage(data, 10)
		if err != nil {
			return
		}
		require.True(t, json.Valid(data), "only valid JSON decodes")
		// Decoded into the room of a recycled page's entries, even room never cleared, the
		// page is the same: every field of an entry is written.
		// With a hook for the position ahead, the same page; the hook runs once at most.
		calls := 0
		again, err := decodePageInto(data, 10, false, &pageScratch{events: staleEvents(len(page.Entries) + 1)},
			func(next StreamPosition, _ int) {
				calls++
				require.NotEmpty(t, next)
			})
		require.NoError(t, err)
		require.Equal(t, page, again)
		require.LessOrEqual(t, calls, 1)

		// A decoded position re-encodes to the same text.
		b, err := json.Marshal(page.NextStreamPosition)
		require.NoError(t, err)
		var back StreamPosition
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, page.NextStreamPosition, back)

		// Differential check against encoding/json wherever encoding/json accepts the input.
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			return
		}
		if raw, ok := top["next_stream_position"]; ok {
			raw = bytes.TrimSpace(raw)
			switch raw[0] {
			case '"':
				var s string
				require.NoError(t, json.Unmarshal(raw, &s))
				require.Equal(t, StreamPosition(s), page.NextStreamPosition)
			case 'n':
				require.Equal(t, StreamPosition(""), page.NextStreamPosition)
			default:
				require.Equal(t, StreamPosition(raw), page.NextStreamPosition, "a number keeps every digit")
				require.Equal(t, `"`+string(raw)+`"`, string(b))
			}
		}
		var entries []json.RawMessage
		if raw, ok := top["entries"]; ok {
			require.NoError(t, json.Unmarshal(raw, &entries))
		}
		var want []Event
		for _, raw := range entries {
			if jsonKind(raw) == "an object" {
				want = append(want, referenceEvent(t, raw))
			}
		}
		require.Len(t, page.Entries, len(want))
		for i := range want {
			require.Equal(t, want[i], page.Entries[i], "entry %d", i)
		}

		// Keeping the whole events changes nothing else, and keeps each one compacted.
		kept, err := decodePageJSON(data, 10, true)
		require.NoError(t, err)
		require.Len(t, kept.Entries, len(want))
		i := 0
		for _, raw := range entries {
			if jsonKind(raw) != "an object" {
				continue
			}
			var buf bytes.Buffer
			require.NoError(t, json.Compact(&buf, raw))
			require.Equal(t, buf.String(), kept.Entries[i].JSON, "entry %d", i)
			ev := kept.Entries[i]
			ev.JSON = ""
			require.Equal(t, want[i], ev, "entry %d", i)
			i++
		}
	})
}

// referenceEvent decodes an event the slow, obvious way, for the differential fuzz check:
// encoding/json into maps, lenient strings, json.Compact for the raw parts.
func referenceEvent(t *testing.T, raw []byte) Event {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	user := func(v json.RawMessage) User {
		if jsonKind(v) != "an object" {
			return User{}
		}
		var f map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(v, &f))
		return User{Type: lenientString(f["type"]), ID: lenientString(f["id"]), Name: lenientString(f["name"]), Login: lenientString(f["login"])}
	}
	compact := func(v json.RawMessage) string {
		if v == nil || jsonKind(v) == "null" {
			return ""
		}
		var buf bytes.Buffer
		require.NoError(t, json.Compact(&buf, v))
		return buf.String()
	}
	e := Event{
		Type:              lenientString(m["type"]),
		EventID:           lenientString(m["event_id"]),
		EventType:         lenientString(m["event_type"]),
		CreatedAt:         lenientString(m["created_at"]),
		RecordedAt:        lenientString(m["recorded_at"]),
		SessionID:         lenientString(m["session_id"]),
		IPAddress:         lenientString(m["ip_address"]),
		CreatedBy:         user(m["created_by"]),
		ActionBy:          user(m["action_by"]),
		AccessibleBy:      user(m["accessible_by"]),
		AdditionalDetails: compact(m["additional_details"]),
	}
	src := m["source"]
	switch jsonKind(src) {
	case "nothing", "null":
	case "an object":
		var f map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(src, &f))
		l := func(k string) string { return lenientString(f[k]) }
		e.Source = Source{
			Type: l("type"), ID: l("id"), Name: l("name"), Login: l("login"),
			ItemType: l("item_type"), ItemID: l("item_id"), ItemName: l("item_name"),
			FileID: l("file_id"), FileName: l("file_name"), FolderID: l("folder_id"), FolderName: l("folder_name"),
			GroupID: l("group_id"), GroupName: l("group_name"),
			UserID: l("user_id"), UserName: l("user_name"), UserEmail: l("user_email"),
			Parent: user(f["parent"]), OwnedBy: user(f["owned_by"]),
			Size: l("size"), SHA1: l("sha1"), Role: l("role"), APIKey: l("api_key"),
			Path: referencePath(t, f["path_collection"]),
		}
		if link := f["shared_link"]; jsonKind(link) == "an object" {
			var lf map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(link, &lf))
			e.Source.SharedLinkAccess = lenientString(lf["access"])
		}
		s := e.Source
		if s.Type == "" && s.ID == "" && s.ItemType == "" && s.ItemID == "" && s.FileID == "" && s.FolderID == "" &&
			s.GroupID == "" && s.UserID == "" {
			e.Source, e.SourceJSON = Source{}, compact(src)
		}
	default:
		e.SourceJSON = compact(src)
	}
	return e
}

// referencePath is the path a path_collection describes: "/" and the name of each entry.
func referencePath(t *testing.T, pc json.RawMessage) string {
	if jsonKind(pc) != "an object" {
		return ""
	}
	var f map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(pc, &f))
	if jsonKind(f["entries"]) != "an array" {
		return ""
	}
	var entries []json.RawMessage
	require.NoError(t, json.Unmarshal(f["entries"], &entries))
	var sb strings.Builder
	for _, entry := range entries {
		if jsonKind(entry) != "an object" {
			continue
		}
		var ef map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(entry, &ef))
		if name, ok := ef["name"]; ok {
			sb.WriteString("/" + lenientString(name))
		}
	}
	return sb.String()
}

// FuzzAppendUnquoted: every JSON string literal decodes exactly as encoding/json decodes it,
// escapes, surrogates (paired, lone, reversed) and invalid UTF-8 included.
func FuzzAppendUnquoted(f *testing.F) {
	for _, s := range []string{
		``, `plain`, `a\"b\\c\/d\b\f\n\r\t`, `\u00e9\u002F\u0000`, `\ud83d\ude00`, `\ud83d`, `\ud83dx`,
		`\ude00\ud83d`, `\ud83d\u0041`, `\uD83D\uDE00\uDBFF\uDFFF`, "caf\xc3\xa9 \xff\xfe \xe2\x82", "\xed\xa0\x80",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		q := append(append([]byte{'"'}, content...), '"')
		if !json.Valid(q) {
			return
		}
		var want string
		require.NoError(t, json.Unmarshal(q, &want))
		require.Equal(t, want, string(appendUnquoted(nil, q)))
		require.Equal(t, "x"+want, string(appendUnquoted([]byte("x"), q)), "appends")
	})
}

func FuzzDecodeRealtimeServers(f *testing.F) {
	addTestdataSeeds(f, "realtime_servers*.json")
	for _, s := range []string{
		``, `{}`, `{"entries":[]}`, `{"entries":null}`, `{"entries":[{"type":"realtime_server","url":""}]}`,
		`{"entries":[1,"x",{"url":"http://h/p?channel=c","ttl":1e3,"max_retries":"-1","retry_timeout":true}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := decodeRealtimeServers(bytes.NewReader(data))
		if err != nil {
			return
		}
		srv, err := pickRealtimeServer(entries)
		if err != nil {
			return
		}
		u, err := parseRealtimeURL(srv.URL)
		require.NoError(t, err)
		require.Contains(t, []string{"http", "https"}, u.Scheme)
		require.NotContains(t, srv.String(), "?", "the query (channel id) is never printed")
		_ = longPollURL(u, "1152922976252290886")
	})
}

func FuzzStreamPosition(f *testing.F) {
	for _, s := range []string{`"1152922976252290886"`, `1152922976252290886`, `30000000000000001234567`,
		`null`, `"now"`, `"0"`, `0`, `-0.5e-3`, `true`, `"\u00e9"`,
		`"007"`, `"000"`, `"-1"`, `1.15e+18`, `"1152922976252290886 "`, `12345678901234567890123456789012345678901`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p StreamPosition
		if p.UnmarshalJSON(data) != nil {
			return
		}
		require.True(t, json.Valid(data), "only valid JSON is accepted")
		b, err := p.MarshalJSON()
		require.NoError(t, err)
		var back StreamPosition
		require.NoError(t, back.UnmarshalJSON(b))
		require.Equal(t, p, back)

		// Resumable is exactly "1 to 40 ASCII digits, not all zeros", and implies Usable.
		s := string(p)
		want := len(s) >= 1 && len(s) <= 40 && strings.Trim(s, "0123456789") == "" && strings.Trim(s, "0") != ""
		require.Equal(t, want, p.Resumable(), "Resumable(%q)", s)
		if p.Resumable() {
			require.True(t, p.Usable())
		}
	})
}

// realisticPage builds a page of n events shaped like Box's: user-stream uploads with full file
// sources, enterprise downloads, collaboration invites and logins.
func realisticPage(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"chunk_size":%d,"next_stream_position":1152922976252290886,"entries":[`, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		user := fmt.Sprintf(`{"type":"user","id":"%d","name":"User Number %d","login":"user%d@example.com"}`, 19094712345+int64(i%50), i%50, i%50)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, `{"type":"event","event_id":"%040x","created_by":%s,"created_at":"2024-05-09T03:45:%02d-07:00",`+
				`"recorded_at":"2024-05-09T03:45:%02d-07:00","event_type":"ITEM_UPLOAD","session_id":"70090280850c8d2a1933c1",`+
				`"source":{"type":"file","id":"%d","file_version":{"type":"file_version","id":"%d",`+
				`"sha1":"134b65991ed521fcfe4724b7d814ab8ded5185dc"},"sequence_id":"3","etag":"3",`+
				`"sha1":"85136C79CBF9FE36BB9D05D0639C70C265C18D37","name":"Quarterly report %d.pdf","description":"","size":629644,`+
				`"path_collection":{"total_count":2,"entries":[{"type":"folder","id":"0","sequence_id":null,"etag":null,`+
				`"name":"All Files"},{"type":"folder","id":"198342561278","sequence_id":"0","etag":"0","name":"Finance"}]},`+
				`"created_at":"2024-05-09T03:45:12-07:00","modified_at":"2024-05-09T03:45:12-07:00","trashed_at":null,"purged_at":null,`+
				`"content_created_at":"2024-05-09T03:45:12-07:00","content_modified_at":"2024-05-09T03:45:12-07:00","created_by":%s,`+
				`"modified_by":%s,"owned_by":%s,"shared_link":null,"parent":{"type":"folder","id":"198342561278","sequence_id":"0",`+
				`"etag":"0","name":"Finance"},"item_status":"active"}}`,
				i, user, i%60, i%60, 1163282535166+int64(i), 1271563012345+int64(i), i, user, user, user)
		case 1:
			fmt.Fprintf(&b, `{"source":{"item_type":"file","item_id":"%d","item_name":"Forecast %d.xlsx","classification":{"name":"Confidential"},`+
				`"parent":{"type":"folder","name":"Finance","id":"198342561278","sequence_id":"0","etag":"0"},"owned_by":%s},`+
				`"created_by":%s,"action_by":null,"created_at":"2024-05-09T03:46:%02d-07:00","event_id":"6b3c7a04-8e39-4b18-9d52-%012x",`+
				`"event_type":"DOWNLOAD","ip_address":"81.2.69.%d","type":"event","session_id":null,"additional_details":{"size":46817,`+
				`"ekm_id":"3c1a4c1e-7c43-4d4c-9d1a-0c8e4e58a7b1","version_id":"1271563012345","service_id":"152953",`+
				`"service_name":"Box Drive"}}`,
				1163282535166+int64(i), i, user, user, i%60, i, i%256)
		case 2:
			fmt.Fprintf(&b, `{"source":{"folder_id":"198342561278","folder_name":"Finance","user_id":"20134567890","user_name":"John Smith",`+
				`"parent":{"type":"folder","name":"All Files","id":"0"},"owned_by":%s},"created_by":%s,"action_by":{"type":"user",`+
				`"id":"19094712346","name":"Admin","login":"admin@example.com"},"created_at":"2024-05-09T03:47:%02d-07:00",`+
				`"event_id":"0d0f5bb0-6a55-4b56-9a8c-%012x","event_type":"COLLABORATION_INVITE","ip_address":"Unknown IP","type":"event",`+
				`"session_id":null,"additional_details":{"collab_id":"%d","invitation_message":null,"is_performed_by_admin":true,`+
				`"role":"editor","type":"box://event/additional_details/collaboration"},"accessible_by":{"type":"user",`+
				`"id":"20134567890","name":"John Smith","login":"john@example.com"}}`,
				user, user, i%60, i, 47016123456+int64(i))
		case 3:
			fmt.Fprintf(&b, `{"source":%s,"created_by":%s,"created_at":"2024-05-09T03:48:%02d-07:00","event_id":"c0ffee00-1111-2222-3333-%012x",`+
				`"event_type":"LOGIN","ip_address":"203.0.113.%d","type":"event","session_id":null,"additional_details":null}`,
				user, user, i%60, i, i%256)
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}

func TestRealisticPage(t *testing.T) {
	data := realisticPage(MaxLimit)
	require.True(t, json.Valid(data))
	page, err := decodePage(data, MaxLimit)
	require.NoError(t, err)
	require.Len(t, page.Entries, MaxLimit)
	require.Equal(t, MaxLimit, cap(page.Entries))
	require.Equal(t, StreamPosition("1152922976252290886"), page.NextStreamPosition)
	require.True(t, strings.HasPrefix(page.Entries[0].EventID, "0000"))
	require.Equal(t, "COLLABORATION_INVITE", page.Entries[2].EventType)
	require.Equal(t, "admin@example.com", page.Entries[2].ActionBy.Login)
}

func BenchmarkDecodePage500(b *testing.B) {
	data := realisticPage(MaxLimit)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		page, err := decodePage(data, MaxLimit)
		if err != nil || len(page.Entries) != MaxLimit {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePage500Reflect is the reflection-based decoding parseEvent replaces, for comparison.
func BenchmarkDecodePage500Reflect(b *testing.B) {
	type refEvent struct {
		Type              flexString      `json:"type"`
		EventID           flexString      `json:"event_id"`
		EventType         flexString      `json:"event_type"`
		CreatedAt         flexString      `json:"created_at"`
		RecordedAt        flexString      `json:"recorded_at"`
		SessionID         flexString      `json:"session_id"`
		IPAddress         flexString      `json:"ip_address"`
		CreatedBy         json.RawMessage `json:"created_by"`
		ActionBy          json.RawMessage `json:"action_by"`
		Source            json.RawMessage `json:"source"`
		AdditionalDetails json.RawMessage `json:"additional_details"`
		AccessibleBy      json.RawMessage `json:"accessible_by"`
	}
	data := realisticPage(MaxLimit)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var page struct {
			ChunkSize          int            `json:"chunk_size"`
			NextStreamPosition StreamPosition `json:"next_stream_position"`
			Entries            []refEvent     `json:"entries"`
		}
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(&page); err != nil {
			b.Fatal(err)
		}
		for i := range page.Entries {
			var u User
			if err := u.UnmarshalJSON(page.Entries[i].CreatedBy); err != nil {
				b.Fatal(err)
			}
		}
	}
}
