package box_events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/plugins/parsers/influx"
	serializer "github.com/influxdata/telegraf/plugins/serializers/influx"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// FuzzEventMetric: every event the client can decode becomes a metric that
// Telegraf's influx serializer writes (the execd binary's stdout, and the
// InfluxDB output's wire format) and that parses back as one line with the
// same fields and tags. An unwritable metric once made the execd binary exit and
// crash-loop at the same position; a vertical tab in a tag value made Telegraf's
// parser drop the line.
func FuzzEventMetric(f *testing.F) {
	pages, err := filepath.Glob(filepath.Join("..", "..", "..", "internal", "boxevents", "testdata", "events_*.json"))
	require.NoError(f, err)
	for _, name := range pages {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		var page struct {
			Entries []json.RawMessage `json:"entries"`
		}
		require.NoError(f, json.Unmarshal(data, &page))
		for _, e := range page.Entries {
			f.Add([]byte(e))
		}
	}
	fixtures, err := filepath.Glob(filepath.Join("testdata", "details", "*.json"))
	require.NoError(f, err)
	for _, name := range fixtures {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	for _, s := range []string{
		`{"additional_details":{"a b=c,d\\":1,"":{"":true},"x\n":"\\","size":1e400,"shield_alert":{"risk_score":1.5,"user":7}}}`,
		`{"additional_details":{"task":{"id":1},"task_id":2,"a_b":1,"a":{"b":2},"role":"Editor","role":"Viewer"},"event_type":"COLLAB_ROLE_CHANGE"}`,
		`{"source":{"type":"user","login":"x@Example.COM","path_collection":{"entries":[{"name":"a\\"}]}},"additional_details":[1]}`,
		`{}`, `{"event_id":""}`, `{"event_type":"LOGIN\\"}`, `{"event_type":" ","created_by":{"login":"a,b=c d\\"}}`,
		`{"event_id":"x\ny\"z\\","created_at":"2026-01-02T03:04:05Z"}`, `{"created_by":{"id":12,"login":null},"source":"str"}`,
		`{"event_type":"\u0000","ip_address":"\r\n","additional_details":{"a":[1,{"b":null}]}}`,
		`{"created_at":"9999-12-31T23:59:59Z","event_id":"late"}`, `{"created_at":"0001-01-01T00:00:00Z"}`,
		`{"event_id":"v","event_type":"LOGIN\u000b","created_by":{"login":"a\u000b@b","name":"\u000b"}}`,
		`{"event_type":"A\"B","created_by":{"id":"\u000b","login":""},"source":{"type":"file","id":"1","name":"a\u000b\r\n\\"}}`,
	} {
		f.Add([]byte(s))
	}
	ser := &serializer.Serializer{}
	require.NoError(f, ser.Init())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev boxevents.Event
		if json.Unmarshal(data, &ev) != nil {
			return // not an event the client would hand over
		}
		ts, ok := eventTime(&ev)
		if !ok {
			ts = now
		}
		m := eventMetric(&ev, boxevents.StreamAdminLogsStreaming, ts, nil)
		line, err := ser.Serialize(m)
		require.NoError(t, err, "event %q", data)

		parser := &influx.Parser{}
		require.NoError(t, parser.Init())
		back, err := parser.Parse(line)
		require.NoError(t, err, "line %q", line)
		require.Len(t, back, 1, "line %q", line)
		id, ok := back[0].GetField("event_id")
		require.True(t, ok, "line %q", line)
		require.Equal(t, ev.EventID, id, "line %q", line)
		require.Equal(t, m.Time().UnixNano(), back[0].Time().UnixNano())
		keys := make(map[string]bool)
		for _, field := range m.FieldList() {
			require.False(t, keys[field.Key], "field %q twice", field.Key)
			keys[field.Key] = true
			// Every field comes back as it was (string fields are escaped both ways).
			v, ok := back[0].GetField(field.Key)
			require.True(t, ok, "field %q, line %q", field.Key, line)
			require.Equal(t, field.Value, v, "field %q, line %q", field.Key, line)
		}
		require.Len(t, back[0].FieldList(), len(m.FieldList()), "line %q", line)
		for _, tag := range m.TagList() {
			// The serializer trims trailing backslashes and leaves out a tag left empty; the
			// parser reads "\t", "\n", "\f", "\r" and a backslash before a quote as they are.
			value := strings.TrimRight(tag.Value, `\`)
			got, ok := back[0].GetTag(tag.Key)
			require.Equal(t, value != "", ok, "tag %q, line %q", tag.Key, line)
			if !strings.ContainsAny(value, "\t\n\f\r\\") {
				require.Equal(t, value, got, "tag %q, line %q", tag.Key, line)
			}
		}
	})
}
