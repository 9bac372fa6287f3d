package box_events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	influxparser "github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// fixtureMetric turns testdata/details/<name>.json, one event as Box sends it, into a metric
// with c.
func fixtureMetric(t *testing.T, c *converter, name string) telegraf.Metric {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "details", name+".json"))
	require.NoError(t, err)
	var ev boxevents.Event
	require.NoError(t, json.Unmarshal(raw, &ev))
	ts, ok := eventTime(&ev)
	require.True(t, ok)
	return c.metric(&ev, boxevents.StreamAdminLogsStreaming, ts)
}

// TestDetails_Fixtures turns every event of testdata/details into a metric and compares it
// with <name>.out, line protocol whose types (42i, 2.5, true, "text") are asserted exactly.
// BOX_EVENTS_UPDATE_GOLDEN=1 rewrites the .out files (read the diff before committing it).
func TestDetails_Fixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "details", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	serializer := &influx.Serializer{SortFields: true}
	require.NoError(t, serializer.Init())
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			c := &converter{userTag: userTagLogin, domains: []string{"example.com"}, in: newInterner()}
			m := fixtureMetric(t, c, name)
			out := filepath.Join("testdata", "details", name+".out")
			if os.Getenv("BOX_EVENTS_UPDATE_GOLDEN") == "1" {
				line, err := serializer.Serialize(m)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(out, line, 0o600))
			}
			want, err := os.ReadFile(out)
			require.NoError(t, err)
			parser := &influxparser.Parser{}
			require.NoError(t, parser.Init())
			expected, err := parser.Parse(want)
			require.NoError(t, err)
			testutil.RequireMetricsEqual(t, expected, []telegraf.Metric{m})
			if name != "unknown_deep" {
				require.Zero(t, c.takeCut(), "only unknown_deep has more than %d generic fields", maxDetailsFields)
			}
		})
	}
}

func TestDetails_Typed(t *testing.T) {
	c := &converter{userTag: userTagLogin, domains: []string{"example.com"}}
	get := func(m telegraf.Metric, key string) any {
		v, ok := m.GetField(key)
		require.True(t, ok, "field %s", key)
		return v
	}

	m := fixtureMetric(t, c, "shield_download")
	require.Equal(t, "security", m.Tags()["category"])
	require.Equal(t, int64(91), get(m, "shield_risk_score"))
	require.Equal(t, int64(603), get(m, "shield_alert_id"))
	require.Equal(t, int64(4103), get(m, "shield_rule_id"))
	require.Equal(t, "Anomalous Download", get(m, "shield_rule_category"))
	require.Equal(t, int64(310), get(m, "shield_download_count"))
	require.Equal(t, int64(2483), get(m, "shield_download_delta_percent"))
	require.Equal(t, "81.2.69.160", get(m, "shield_ip"), "the first download address")
	require.Equal(t, "20110001", get(m, "shield_user_id"), "Shield's numeric id, as text like every id")
	require.Equal(t, "dana.ortiz@example.com", get(m, "shield_user_login"))

	m = fixtureMetric(t, c, "shield_sessions")
	require.Equal(t, int64(55), get(m, "shield_risk_score"), "a score sent as a string is still a number")
	require.Equal(t, int64(4102), get(m, "shield_rule_id"))
	require.Equal(t, "203.0.113.9", get(m, "shield_ip"), "the first session's first activity")
	require.Equal(t, "Box Drive", get(m, "shield_service"))

	m = fixtureMetric(t, c, "collaboration_invite")
	require.Equal(t, "Editor", get(m, "collab_role"))
	require.Equal(t, "50112233", get(m, "collab_id"))
	require.Equal(t, false, get(m, "collab_performed_by_admin"))
	require.Equal(t, true, get(m, "external"), "partner-firm.net is outside example.com")

	m = fixtureMetric(t, c, "collaboration_group")
	require.Equal(t, "50112299", get(m, "collab_id"), "a number becomes its digits")
	require.Equal(t, true, get(m, "collab_performed_by_admin"))
	require.Equal(t, "1122334", get(m, "source_group_id"))
	require.Equal(t, "Sales EMEA", get(m, "source_group_name"))
	require.False(t, m.HasField("external"), "a group names no login")

	m = fixtureMetric(t, c, "download_service")
	require.Equal(t, int64(48213), get(m, "size"))
	require.Equal(t, "1600112233", get(m, "version_id"))
	require.Equal(t, "Box Drive", get(m, "service_name"))
	require.Equal(t, "k3v9x2m1q8za", get(m, "shared_link_id"))
	require.Equal(t, "Deals 2026", get(m, "source_parent_name"))

	m = fixtureMetric(t, c, "shared_link")
	require.Equal(t, "/All Files/Finance/Q3", get(m, "source_path"))
	require.Equal(t, "Q3 forecast.xlsx", get(m, "source_name"))
	require.Equal(t, int64(629644), get(m, "source_size"))
	require.Equal(t, "open", get(m, "source_shared_link_access"))
	require.Equal(t, "2026-03-04T12:10:02-08:00", get(m, "recorded_at"))

	m = fixtureMetric(t, c, "change_admin_role")
	require.Equal(t, "user_admin", m.Tags()["category"])
	require.Equal(t, "coadmin", get(m, "source_role"))
	require.Equal(t, "lee.chen@example.com", get(m, "source_login"))
	require.Equal(t, false, get(m, "external"))

	m = fixtureMetric(t, c, "application")
	require.Equal(t, "apps_tokens", m.Tags()["category"])
	require.Equal(t, "q8ps1tk2n9z0bv7c", get(m, "source_api_key"))
	require.Equal(t, "true", get(m, "details_is_authorized"), "details fields are strings, whatever Box sent")

	m = fixtureMetric(t, c, "details_string")
	require.Equal(t, `"legacy details string"`, get(m, "additional_details"), "text that is not an object stays whole")
}

func TestDetails_UnknownKeysAreBounded(t *testing.T) {
	c := &converter{userTag: userTagLogin}
	m := fixtureMetric(t, c, "unknown_deep")
	require.Equal(t, "other", m.Tags()["category"])
	fields := m.Fields()
	//nolint:testifylint // the compact text itself is under test
	require.Equal(t, `{"d":1,"e":[1,2]}`, fields["details_a_b_c"], "an object at depth 3 is kept as compact JSON")
	require.Equal(t, "2.5", fields["details_a_b_f"], "numbers and booleans as Box wrote them")
	require.Equal(t, "true", fields["details_a_b_g"])
	require.NotContains(t, fields, "details_a_h", "null is absent")
	require.Equal(t, "x\u00e9\"y", fields["details_a_i"], "escapes are decoded")
	require.Equal(t, `[{"x":1},{"y":2}]`, fields["details_list"], "arrays are kept as compact JSON")
	require.Equal(t, "12345678901234567890", fields["details_big"], "every digit of an integer beyond int64")
	require.Equal(t, "-7", fields["details_neg"])
	require.Equal(t, "1000.0", fields["details_exp"])
	generic := 0
	for k := range fields {
		if strings.HasPrefix(k, detailsPrefix) {
			generic++
		}
	}
	require.Equal(t, maxDetailsFields, generic)
	// 8 keys above (a_b_c, a_b_f, a_b_g, a_i, list, big, neg, exp) and 30 more: 6 left out.
	require.Equal(t, 38-maxDetailsFields, c.takeCut())
	require.Zero(t, c.takeCut(), "taking the count resets it")
}

// TestMetric_OneTypePerField: InfluxDB refuses a point whose field has another type than in
// the points before it, so a field name must have one type whatever JSON Box sends for it. Box
// is not consistent (an id a number in one event and a string in the next, 1200 then 1249.5),
// so every place an event's value becomes a field is given every kind of JSON value.
func TestMetric_OneTypePerField(t *testing.T) {
	values := []string{`0`, `-7`, `1249.5`, `1000.0`, `12345678901234567890`, `1e400`, `"12"`, `"x"`, `""`,
		`true`, `"true"`, `{"a":1}`, `[1,2]`, `null`}
	events := []string{
		// additional_details: generic keys at every depth, the families, the typed fields
		`"additional_details":{"k":%[1]s,"a":{"b":{"c":%[1]s}},"metadata":{"amount":%[1]s},"task_id":%[1]s,` +
			`"size":%[1]s,"collab_id":%[1]s,"is_performed_by_admin":%[1]s,"role":%[1]s,"service_id":%[1]s,` +
			`"shield_alert":{"risk_score":%[1]s,"alert_id":%[1]s,"x":%[1]s,"user":{"id":%[1]s,"y":%[1]s},` +
			`"alert_summary":{"download_delta_percent":%[1]s,"anomaly_period":{"downloaded_files_count":%[1]s}}}}`,
		`"additional_details":%[1]s`,
		// the event's own values
		`"event_id":%[1]s,"session_id":%[1]s,"ip_address":%[1]s,"recorded_at":%[1]s`,
		`"created_by":{"type":%[1]s,"id":%[1]s,"name":%[1]s,"login":%[1]s},"action_by":{"id":%[1]s},` +
			`"accessible_by":{"id":%[1]s,"login":%[1]s}`,
		`"source":{"type":"file","id":%[1]s,"name":%[1]s,"size":%[1]s,"sha1":%[1]s,"parent":{"id":%[1]s},` +
			`"owned_by":{"id":%[1]s},"shared_link":{"access":%[1]s},"path_collection":{"entries":[{"name":%[1]s}]}}`,
		`"source":{"item_type":"file","item_id":%[1]s,"item_name":%[1]s,"user_id":%[1]s,"user_email":%[1]s}`,
		`"source":{"type":"user","id":%[1]s,"login":%[1]s,"role":%[1]s}`,
		`"source":{"type":"application","api_key":%[1]s},"created_by":{"login":"x@example.org"}`,
		`"source":%[1]s`,
	}
	c := &converter{userTag: userTagID, domains: []string{"example.com"}, in: newInterner()}
	types := make(map[string]map[string]string) // field -> Go type -> a JSON value that made it
	for _, e := range events {
		for _, v := range values {
			raw := fmt.Sprintf(`{"type":"event","created_at":"2026-03-04T13:05:00-08:00","event_type":"COLLABORATION_INVITE",`+e+`}`, v)
			var ev boxevents.Event
			require.NoError(t, json.Unmarshal([]byte(raw), &ev), raw)
			for _, f := range c.metric(&ev, boxevents.StreamAdminLogs, time.Unix(0, 0)).FieldList() {
				typ := fmt.Sprintf("%T", f.Value)
				if types[f.Key] == nil {
					types[f.Key] = make(map[string]string)
				}
				types[f.Key][typ] = v
			}
		}
	}
	require.Greater(t, len(types), 40)
	for key, seen := range types {
		require.Len(t, seen, 1, "field %s has more than one type: %v", key, seen)
	}
}

func TestDetails_NeverPanics(t *testing.T) {
	m := newBoxMetric(measurement, time.Unix(0, 0))
	for _, d := range []string{`{`, `{"a"`, `{"a":`, `{"a":"x`, `{"a":{"b":[1,`, `{"a":1,}`, `{"shield_alert":{"alert_summary":{"sessions":[{"activities":[`,
		`{"size":"big","collab_id":{},"is_performed_by_admin":"maybe","shield_alert":[1]}`, `[]`, `"x"`, `{"a":1}x`} {
		require.NotPanics(t, func() { addDetails(m, nil, d, categoryCollaboration) }, d)
	}
	// Values of the wrong type are kept under their generic names, not dropped.
	m = newBoxMetric(measurement, time.Unix(0, 0))
	addDetails(m, nil, `{"size":"big","is_performed_by_admin":"maybe","shield_alert":[1],"role":"Editor"}`, categoryCollaboration)
	require.Equal(t, map[string]any{
		"details_size": "big", "details_is_performed_by_admin": "maybe", "details_shield_alert": "[1]", "collab_role": "Editor",
	}, m.Fields())
}

// skipString finds the end of a string by its quotes and the backslashes before them; it agrees
// with reading the escapes one by one on every string of quotes, backslashes and letters up to
// nine bytes, closed or not, and whatever follows.
func TestSkipString_SameAsEscapeByEscape(t *testing.T) {
	byByte := func(s string, i int) int {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	}
	const alphabet = `a\"`
	var gen func(prefix string, n int)
	checked := 0
	gen = func(prefix string, n int) {
		for _, tail := range []string{"", `"`, `\"`, `":1}`} {
			s := `x"` + prefix + tail
			require.Equal(t, byByte(s, 1), skipString(s, 1), "%q", s)
			checked++
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 9)
	require.Greater(t, checked, 100000)
}

func TestUserTag(t *testing.T) {
	ev := boxevents.Event{EventID: "e1", EventType: "LOGIN", CreatedBy: boxevents.User{Type: "user", ID: "20110001", Login: "dana@example.com"}}
	noLogin := boxevents.Event{EventID: "e2", EventType: "LOGIN", CreatedBy: boxevents.User{ID: "2"}}
	ts := time.Unix(1772650423, 0)
	for _, tt := range []struct {
		tag             string
		user            string // "" for none
		login, nologin2 bool   // whether user_login is a field (ev), whether noLogin has a user tag
	}{
		{userTagLogin, "dana@example.com", false, true},
		{userTagID, "20110001", true, true},
		{userTagNone, "", true, false},
	} {
		t.Run(tt.tag, func(t *testing.T) {
			c := &converter{userTag: tt.tag}
			m := c.metric(&ev, boxevents.StreamAdminLogs, ts)
			user, ok := m.GetTag("user")
			require.Equal(t, tt.user != "", ok)
			require.Equal(t, tt.user, user)
			login, ok := m.GetField("user_login")
			require.Equal(t, tt.login, ok)
			if ok {
				require.Equal(t, "dana@example.com", login)
			}
			id, _ := m.GetField("user_id")
			require.Equal(t, "20110001", id, "user_id is always a field")
			keys := make([]string, 0, 3)
			for _, tag := range m.TagList() {
				keys = append(keys, tag.Key)
			}
			require.IsIncreasing(t, keys, "boxMetric keeps tags in key order")

			m = c.metric(&noLogin, boxevents.StreamAdminLogs, ts)
			user, ok = m.GetTag("user")
			require.Equal(t, tt.nologin2, ok)
			if ok {
				require.Equal(t, "2", user, "without a login the id is the tag")
			}
		})
	}
}

func TestEventJSON(t *testing.T) {
	ev := boxevents.Event{EventID: "e1", EventType: "LOGIN", JSON: `{"event_id":"e1","event_type":"LOGIN"}`}
	m := eventMetric(&ev, boxevents.StreamAdminLogs, time.Unix(0, 0), nil)
	v, ok := m.GetField("event_json")
	require.True(t, ok)
	require.Equal(t, ev.JSON, v)
	ev.JSON = ""
	m = eventMetric(&ev, boxevents.StreamAdminLogs, time.Unix(0, 0), nil)
	require.False(t, m.HasField("event_json"))
}

func TestExternal(t *testing.T) {
	c := &converter{domains: []string{"example.com", "corp.example.org"}}
	for login, want := range map[string]bool{
		"a@example.com": false, "a@EXAMPLE.com": false, "a@eu.example.com": false, "a@corp.example.org": false,
		"a@x.corp.example.org": false, "a@badexample.com": true, "a@example.com.evil.net": true, "a@example.org": true,
		"a@gmail.com": true, "a@b@gmail.com": true,
	} {
		got, ok := c.external(login)
		require.True(t, ok, login)
		require.Equal(t, want, got, login)
	}
	for _, login := range []string{"", "nobody", "a@"} {
		_, ok := c.external(login)
		require.False(t, ok, login)
	}
}

func TestMetricOptions(t *testing.T) {
	tag, domains, err := metricOptions("", []string{" Example.COM ", "example.com", "eu.example.net."})
	require.NoError(t, err)
	require.Equal(t, userTagLogin, tag)
	require.Equal(t, []string{"example.com", "eu.example.net"}, domains)
	tag, _, err = metricOptions("NONE", nil)
	require.NoError(t, err)
	require.Equal(t, userTagNone, tag)
	_, _, err = metricOptions("email", nil)
	require.EqualError(t, err, `invalid user_tag "email": want "login", "id" or "none"`)
	for _, bad := range []string{"", "@example.com", "https://example.com", "*.example.com", "exa mple.com", "-x.com", "a..b"} {
		_, _, err = metricOptions("login", []string{bad})
		require.ErrorContains(t, err, "invalid entry", bad)
	}
}

// TestREADME_ExampleOutput keeps the README's example lines what the plugin writes: each is the
// line of a testdata/details event with user_tag "login" or "none".
func TestREADME_ExampleOutput(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	at := bytes.Index(readme, []byte("## Example Output"))
	require.GreaterOrEqual(t, at, 0)
	section := string(readme[at:])
	files, err := filepath.Glob(filepath.Join("testdata", "details", "*.json"))
	require.NoError(t, err)
	serializer := &influx.Serializer{SortFields: true}
	require.NoError(t, serializer.Init())
	written := make(map[string]bool)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		for _, tag := range []string{userTagLogin, userTagNone} {
			c := &converter{userTag: tag, domains: []string{"example.com"}}
			line, err := serializer.Serialize(fixtureMetric(t, c, name))
			require.NoError(t, err)
			written[strings.TrimSpace(string(line))] = true
		}
	}
	n := 0
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, measurement+",") {
			require.True(t, written[line], "README line is not what the plugin writes:\n%s", line)
			n++
		}
	}
	require.Positive(t, n)
}
