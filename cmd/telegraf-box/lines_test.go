package main

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	parsers "github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// serialized is what Telegraf's influx serializer alone writes for m, and whether it writes
// anything.
func serialized(t testing.TB, m telegraf.Metric) (string, bool) {
	s := &influx.Serializer{}
	require.NoError(t, s.Init())
	line, err := s.Serialize(m)
	if err != nil {
		return "", false
	}
	return string(line), true
}

// requireSameAsSerializer checks that lineWriter appends exactly the serializer's line for m
// after what buf held, and reports whether the direct path wrote it.
func requireSameAsSerializer(t testing.TB, w *lineWriter, m telegraf.Metric) (direct bool) {
	want, wantOK := serialized(t, m)
	const before = "previous line\n"
	got, ok := w.appendMetric([]byte(before), m)
	require.Equal(t, wantOK, ok, "%v", m)
	require.Equal(t, before+want, string(got), "%v", m)
	_, direct = appendPlain(nil, m)
	return direct
}

func TestLineWriter_SameAsSerializer(t *testing.T) {
	w, err := newLineWriter()
	require.NoError(t, err)
	at := time.Unix(1700000000, 123456789)
	tests := []struct {
		name   string
		m      telegraf.Metric
		direct bool
	}{
		{name: "box event", direct: true, m: metric.New("box_events",
			map[string]string{"event_type": "ITEM_UPLOAD", "user": "priya@example.com", "category": "file_access"},
			map[string]any{"event_id": "abc", "source_name": "Q3 budget.xlsx", "source_size": int64(88213),
				"external": false, "ratio": 0.25, "note": "line one\nline two\ttabbed"}, at)},
		{name: "quote in a string field", direct: true, m: metric.New("box_events", nil,
			map[string]any{"source_name": `say "hi"`}, at)},
		{name: "backslash in a string field", direct: true, m: metric.New("box_events", nil,
			map[string]any{"path": `C:\temp`}, at)},
		{name: "quotes and backslashes at the ends of string fields", direct: true, m: metric.New("box_events", nil,
			map[string]any{"a": `"`, "b": `\`, "c": `\"x"\`, "d": `"legacy details string"`, "e": "Jörg \"Müller\""}, at)},
		{name: "space in a tag value", m: metric.New("box_events", map[string]string{"user": "Jörg Müller"},
			map[string]any{"n": int64(1)}, at)},
		{name: "comma and equals in a tag", m: metric.New("box_events", map[string]string{"a,b": "c=d"},
			map[string]any{"n": int64(1)}, at)},
		{name: "newline in a tag value", m: metric.New("box_events", map[string]string{"user": "a\nb"},
			map[string]any{"n": int64(1)}, at)},
		{name: "trailing backslash in a tag value", m: metric.New("box_events", map[string]string{"user": `dom\`},
			map[string]any{"n": int64(1)}, at)},
		{name: "empty tag value", m: metric.New("box_events", map[string]string{"user": ""},
			map[string]any{"n": int64(1)}, at)},
		{name: "space in a field key", m: metric.New("box_events", nil,
			map[string]any{"a key": int64(1)}, at)},
		{name: "equals in a field key", m: metric.New("box_events", nil,
			map[string]any{"a=b": int64(1)}, at)},
		{name: "trailing backslash in a field key", direct: true, m: metric.New("box_events", nil,
			map[string]any{`k\`: int64(1)}, at)},
		{name: "space in the name", m: metric.New("box events", nil, map[string]any{"n": int64(1)}, at)},
		{name: "equals in the name", direct: true, m: metric.New("box=events", nil, map[string]any{"n": int64(1)}, at)},
		{name: "no name", m: metric.New("", nil, map[string]any{"n": int64(1)}, at)},
		{name: "no field", m: metric.New("box_events", map[string]string{"a": "b"}, nil, at)},
		{name: "uint field", m: metric.New("box_events", nil, map[string]any{"u": uint64(math.MaxUint64)}, at)},
		{name: "NaN field", m: metric.New("box_events", nil, map[string]any{"x": math.NaN(), "n": int64(1)}, at)},
		{name: "only an Inf field", m: metric.New("box_events", nil, map[string]any{"x": math.Inf(1)}, at)},
		{name: "negative time", direct: true, m: metric.New("box_events", nil, map[string]any{"n": int64(-5)}, time.Unix(-3, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.direct, requireSameAsSerializer(t, w, tt.m))
		})
	}
}

func FuzzLineWriter(f *testing.F) {
	f.Add("box_events", "user", "priya@example.com", "source_name", "Q3 budget.xlsx", int64(88213), 0.5, true, int64(1700000000123456789))
	f.Add("box events", "a,b", "c=d\\", "k=v", `say "hi" \`, int64(-1), math.Inf(-1), false, int64(-1))
	f.Add("", "", "", "", "", int64(0), math.NaN(), false, int64(0))
	f.Fuzz(func(t *testing.T, name, tagKey, tagValue, fieldKey, str string, n int64, x float64, b bool, ns int64) {
		w, err := newLineWriter()
		require.NoError(t, err)
		m := metric.New(name, map[string]string{tagKey: tagValue, "event_type": "ITEM_UPLOAD"},
			map[string]any{fieldKey: str, "n": n, "x": x, "ok": b}, time.Unix(0, ns))
		requireSameAsSerializer(t, w, m)
		// A metric with only the fuzzed field, so that its failure leaves no field.
		requireSameAsSerializer(t, w, metric.New(name, map[string]string{tagKey: tagValue}, map[string]any{fieldKey: str}, time.Unix(0, ns)))
	})
}

// The word-at-a-time checks agree with the byte-by-byte definition for every byte at every
// place of strings up to 20 bytes long (the words and the tail).
func TestPlainChecks_EveryByteEveryPlace(t *testing.T) {
	// What the serializer escapes, as sets of characters.
	refPlain := func(s string, equals bool) bool {
		if equals {
			return !strings.ContainsAny(s, "\t\n\f\r ,=")
		}
		return !strings.ContainsAny(s, "\t\n\f\r ,")
	}
	refString := func(s string) bool { return !strings.ContainsAny(s, `"\`) }
	for n := 1; n <= 20; n++ {
		for at := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[at] = byte(c)
				s := string(b)
				require.Equal(t, refPlain(s, true), plain(s, true), "%q", s)
				require.Equal(t, refPlain(s, false), plain(s, false), "%q", s)
				require.Equal(t, refString(s), plainString(s), "%q", s)
			}
		}
	}
}

// Event content that ends up in a tag value (event_type, the user's login or id) is read back by
// inputs.execd's parser, Telegraf's influx stream parser, as the event it was: through the
// simulated Box, the plugin and the runner. The serializer writes a vertical tab as it is and
// that parser takes it for the white space that ends the tags: the line was dropped with a parse
// error in Telegraf while the runner had acknowledged it, so the event was lost.
func TestRunner_OddTagValuesParseInTelegraf(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 3})
	events := []string{
		`{"event_id":"plain","event_type":"LOGIN","created_by":{"type":"user","id":"1","login":"a@example.com"}}`,
		`{"event_id":"vt-type","event_type":"LOGIN\u000bX","created_by":{"type":"user","id":"1","login":"a@example.com"}}`,
		`{"event_id":"vt-login","event_type":"LOGIN","created_by":{"type":"user","id":"2","login":"b\u000b@example.com"}}`,
		`{"event_id":"vt-only","event_type":"\u000b","created_by":{"type":"user","id":"\u000b"}}`,
		`{"event_id":"escapes","event_type":"A B,C=D\\","created_by":{"type":"user","id":"3","login":"\t\n\f\r\\ \\"}}`,
	}
	for _, ev := range events {
		_, err := sim.AddRawEvent(boxsim.StreamAdminLogsStreaming, json.RawMessage(ev))
		require.NoError(t, err)
	}

	stdinR, stdinW := io.Pipe()
	var out syncBuffer
	logger := &testutil.CaptureLogger{}
	in, maker := simPlugin(t, sim, "admin_logs_streaming", "")
	r := newRunner(in, stdinR, &out, logger)
	r.maker = maker
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= len(events) },
		30*time.Second, 5*time.Millisecond, "the runner did not write %d lines", len(events))
	require.NoError(t, stdinW.Close())
	require.NoError(t, <-done)

	var ids []string
	parser := parsers.NewStreamParser(strings.NewReader(out.String()))
	for {
		m, err := parser.Next()
		if errors.Is(err, parsers.EOF) {
			break
		}
		require.NoError(t, err, "Telegraf cannot read the runner's output:\n%s", out.String())
		id, _ := m.GetField("event_id")
		ids = append(ids, id.(string))
	}
	require.Equal(t, []string{"plain", "vt-type", "vt-login", "vt-only", "escapes"}, ids)
}
