package boxsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServer_EventsPositionsExact(t *testing.T) {
	tests := []struct {
		name   string
		format PositionFormat
		want   []string // wire type of each page's position: "string" or "number"
	}{
		{"default", "", []string{"string", "string", "string"}},
		{"string", PositionString, []string{"string", "string", "string"}},
		{"number", PositionNumber, []string{"number", "number", "number"}},
		{"mixed", PositionMixed, []string{"string", "number", "string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{PositionFormat: tt.format})
			token := h.sim.IssueToken(SubjectUser)
			h.sim.EmitUser(30)
			events := h.sim.Events(StreamAll)
			require.Len(t, events, 30)

			pos := "0"
			for i, wantType := range tt.want {
				p := h.mustPage(token, url.Values{"stream_position": {pos}, "limit": {"10"}})
				gotType := "string"
				if _, ok := p.Position.(json.Number); ok {
					gotType = "number"
				}
				require.Equal(t, wantType, gotType)
				last := events[10*i+9]
				require.Equal(t, last.Position, p.digits(), "position must survive byte for byte")
				n, err := strconv.ParseUint(p.digits(), 10, 64)
				require.NoError(t, err)
				require.Greater(t, n, uint64(1)<<53)
				require.Equal(t, last.ID, p.ids()[9])
				pos = p.digits()
			}
		})
	}
}

func TestServer_EventsStreamPosition(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.EmitUser(20)
	events := h.sim.Events(StreamAll)
	head := h.sim.HeadPosition(StreamAll)
	require.Equal(t, events[19].Position, head)

	tests := []struct {
		name      string
		position  *string
		wantIDs   []string
		wantPos   string
		wantError bool
	}{
		{name: "now", position: ptr("now"), wantPos: head},
		{name: "zero", position: ptr("0"), wantIDs: idsOf(events), wantPos: head},
		{name: "absent", wantIDs: idsOf(events), wantPos: head},
		{name: "middle", position: ptr(events[4].Position), wantIDs: idsOf(events[5:]), wantPos: head},
		{name: "head echoes", position: ptr(head), wantPos: head},
		{name: "future echoes", position: ptr("18446744073709551615"), wantPos: "18446744073709551615"},
		{name: "garbage", position: ptr("abc"), wantError: true},
		{name: "float notation", position: ptr("1.152922976252291e+18"), wantError: true},
		{name: "negative", position: ptr("-1"), wantError: true},
		{name: "overflow", position: ptr("18446744073709551616"), wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			if tt.position != nil {
				q.Set("stream_position", *tt.position)
			}
			status, body := h.getEvents(token, q)
			if tt.wantError {
				require.Equal(t, http.StatusBadRequest, status)
				code, msg := boxErrorCode(t, body)
				require.Equal(t, "invalid_parameter", code)
				require.Contains(t, msg, "stream_position")
				return
			}
			require.Equal(t, http.StatusOK, status)
			p := decodePage(t, body)
			require.Equal(t, tt.wantIDs, nilIfEmpty(p.ids()))
			require.Equal(t, tt.wantPos, p.digits())
		})
	}
}

func TestServer_EventsLimit(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.EmitUser(600)

	tests := []struct {
		limit string
		want  int // entries; 0 means a 400 answer
	}{
		{"", 100}, {"0", 100}, {"7", 7}, {"500", 500}, {"501", 500}, {"800", 500}, {"abc", 0}, {"-1", 0},
	}
	for _, tt := range tests {
		t.Run("limit="+tt.limit, func(t *testing.T) {
			q := url.Values{"stream_position": {"0"}}
			if tt.limit != "" {
				q.Set("limit", tt.limit)
			}
			status, body := h.getEvents(token, q)
			if tt.want == 0 {
				require.Equal(t, http.StatusBadRequest, status)
				code, msg := boxErrorCode(t, body)
				require.Equal(t, "invalid_parameter", code)
				require.Contains(t, msg, "limit")
				return
			}
			require.Equal(t, http.StatusOK, status)
			require.Len(t, decodePage(t, body).Entries, tt.want)
		})
	}
}

func TestServer_EventsStreamType(t *testing.T) {
	h := newHarness(t, Options{})
	status, body := h.getEvents(h.sim.IssueToken(SubjectEnterprise), url.Values{"stream_type": {"admin"}})
	require.Equal(t, http.StatusBadRequest, status)
	code, msg := boxErrorCode(t, body)
	require.Equal(t, "invalid_parameter", code)
	require.Contains(t, msg, "stream_type")
}

func TestServer_DrainMatchesProducedIDs(t *testing.T) {
	h := newHarness(t, Options{Seed: 7})
	h.sim.Emit(250)
	token := h.sim.IssueToken(SubjectEnterprise)
	for _, stream := range []Stream{StreamAll, StreamChanges, StreamSync, StreamAdminLogs, StreamAdminLogsStreaming} {
		t.Run(string(stream), func(t *testing.T) {
			ids := h.drain(token, stream, 37)
			require.Equal(t, h.sim.ProducedIDs(stream), ids)
			require.Equal(t, idsOf(h.sim.Events(stream)), ids)
			requireUnique(t, ids)
		})
	}
}

func TestServer_UserStreamSubsets(t *testing.T) {
	h := newHarness(t, Options{Seed: 3})
	h.sim.EmitUser(400)
	all, changes, sync := h.sim.Events(StreamAll), h.sim.Events(StreamChanges), h.sim.Events(StreamSync)
	require.NotEmpty(t, sync)
	require.Less(t, len(sync), len(changes))
	require.Less(t, len(changes), len(all))
	require.Subset(t, idsOf(all), idsOf(changes))
	require.Subset(t, idsOf(changes), idsOf(sync))
	for _, e := range changes {
		require.True(t, isChangeEventType(e.Type), e.Type)
	}

	// Scripted events follow the same rules.
	synced, err := h.sim.AddUserEvent(json.RawMessage(`{"type":"event","event_id":"a1","event_type":"ITEM_UPLOAD",
		"source":{"type":"file","id":"9","parent":{"type":"folder","id":"1","sync_state":"synced"}}}`))
	require.NoError(t, err)
	plain, err := h.sim.AddUserEvent(json.RawMessage(`{"type":"event","event_id":"a2","event_type":"ITEM_PREVIEW","source":null}`))
	require.NoError(t, err)
	require.Contains(t, h.sim.ProducedIDs(StreamSync), synced.ID)
	require.Contains(t, h.sim.ProducedIDs(StreamAll), plain.ID)
	require.NotContains(t, h.sim.ProducedIDs(StreamChanges), plain.ID)
	require.JSONEq(t, `{"type":"event","event_id":"a2","event_type":"ITEM_PREVIEW","source":null}`, string(plain.JSON))
}

func TestServer_AddEventValidation(t *testing.T) {
	h := newHarness(t, Options{})
	for _, raw := range []string{`not json`, `[1,2]`, `{"event_type":"LOGIN"}`, `{"event_id":""}`, `{"event_id":42}`} {
		_, err := h.sim.AddEnterpriseEvent(json.RawMessage(raw))
		require.Error(t, err, raw)
	}
	e, err := h.sim.AddEnterpriseEvent(json.RawMessage(`{"event_id":"x","created_at":"2024-01-02T03:04:05-08:00"}`))
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 1, 2, 11, 4, 5, 0, time.UTC), e.CreatedAt.UTC())
}

func TestServer_EnterpriseFilters(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectEnterprise)
	start := h.clock.Now()
	login := h.sim.EmitType(StreamAdminLogs, "LOGIN")
	h.clock.Add(time.Minute)
	upload := h.sim.EmitType(StreamAdminLogs, "UPLOAD")
	h.clock.Add(time.Minute)
	failed := h.sim.EmitType(StreamAdminLogs, "FAILED_LOGIN")
	h.sim.EmitType(StreamAll, "ITEM_UPLOAD")
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }

	tests := []struct {
		name   string
		query  url.Values
		want   []string
		status int
	}{
		{"type filter", url.Values{"stream_type": {"admin_logs"}, "event_type": {"LOGIN,FAILED_LOGIN"}},
			[]string{login.ID, failed.ID}, http.StatusOK},
		{"type filter streaming", url.Values{"stream_type": {"admin_logs_streaming"}, "event_type": {"UPLOAD"}},
			[]string{upload.ID}, http.StatusOK},
		{"created_after", url.Values{"stream_type": {"admin_logs"}, "created_after": {rfc(start.Add(30 * time.Second))}},
			[]string{upload.ID, failed.ID}, http.StatusOK},
		{"created_before", url.Values{"stream_type": {"admin_logs"}, "created_before": {rfc(start.Add(90 * time.Second))}},
			[]string{login.ID, upload.ID}, http.StatusOK},
		{"window with offset", url.Values{"stream_type": {"admin_logs"},
			"created_after":  {start.Add(30 * time.Second).In(time.FixedZone("", -8*3600)).Format(time.RFC3339)},
			"created_before": {rfc(start.Add(90 * time.Second))}},
			[]string{upload.ID}, http.StatusOK},
		{"dates ignored on streaming", url.Values{"stream_type": {"admin_logs_streaming"}, "created_after": {rfc(start.Add(time.Hour))}},
			[]string{login.ID, upload.ID, failed.ID}, http.StatusOK},
		{"event_type ignored on user streams", url.Values{"event_type": {"LOGIN"}}, nil, http.StatusOK},
		{"unparseable date", url.Values{"stream_type": {"admin_logs"}, "created_after": {"yesterday"}}, nil, http.StatusBadRequest},
		{"unencoded plus", url.Values{"stream_type": {"admin_logs"}, "created_after": {"2025-03-14T15:09:26 00:00"}}, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.getEvents(token, tt.query)
			require.Equal(t, tt.status, status, string(body))
			if status != http.StatusOK {
				code, msg := boxErrorCode(t, body)
				require.Equal(t, "invalid_parameter", code)
				require.Contains(t, msg, "created_after")
				return
			}
			p := decodePage(t, body)
			if tt.want == nil {
				require.Len(t, p.Entries, 1) // the user stream's single event
				return
			}
			require.Equal(t, tt.want, p.ids())
		})
	}
}

func TestServer_EventsAuth(t *testing.T) {
	h := newHarness(t, Options{DeveloperTokens: []string{"devtoken"}})
	q := url.Values{"stream_position": {"now"}}

	status, header, body := h.do(t.Context(), http.MethodGet, "/2.0/events", nil, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, header.Get("WWW-Authenticate"), `Bearer realm="Service"`)
	require.Empty(t, body)

	for _, bad := range []string{"nope", ""} {
		status, header, body = h.do(t.Context(), http.MethodGet, "/2.0/events", bearer(bad), nil)
		require.Equal(t, http.StatusUnauthorized, status)
		require.Contains(t, header.Get("WWW-Authenticate"), `error="invalid_token"`)
		require.Empty(t, body)
	}

	dev, _ := h.getEvents("devtoken", q)
	require.Equal(t, http.StatusOK, dev)

	token := h.sim.IssueToken(SubjectUser)
	ok, _ := h.getEvents(token, q)
	require.Equal(t, http.StatusOK, ok)
	h.clock.Add(DefaultTokenTTL - time.Second)
	ok, _ = h.getEvents(token, q)
	require.Equal(t, http.StatusOK, ok)
	h.clock.Add(time.Second)
	expired, _ := h.getEvents(token, q)
	require.Equal(t, http.StatusUnauthorized, expired, "tokens expire on the clock")

	fresh := h.sim.IssueToken(SubjectUser)
	h.sim.ExpireTokens()
	for _, tok := range []string{fresh, "devtoken"} {
		status, _ := h.getEvents(tok, q)
		require.Equal(t, http.StatusUnauthorized, status)
	}

	fresh = h.sim.IssueToken(SubjectUser)
	h.sim.RevokeTokens()
	status, _ = h.getEvents(fresh, q)
	require.Equal(t, http.StatusUnauthorized, status)

	open := newHarness(t, Options{NoAuth: true})
	status, _, _ = open.do(t.Context(), http.MethodGet, "/2.0/events?stream_type=admin_logs", nil, nil)
	require.Equal(t, http.StatusOK, status)
}

func TestServer_EnterpriseScope(t *testing.T) {
	tests := []struct {
		name    string
		admin   bool
		subject Subject
		asUser  string
		stream  Stream
		want    int
	}{
		{"user token on admin_logs", false, SubjectUser, "", StreamAdminLogs, http.StatusForbidden},
		{"user token on streaming", false, SubjectUser, "", StreamAdminLogsStreaming, http.StatusForbidden},
		{"enterprise token", false, SubjectEnterprise, "", StreamAdminLogsStreaming, http.StatusOK},
		{"admin user token", true, SubjectUser, "", StreamAdminLogs, http.StatusOK},
		{"user token with As-User", false, SubjectUser, "19283746", StreamAll, http.StatusForbidden},
		{"enterprise token with As-User", false, SubjectEnterprise, "19283746", StreamAll, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{UserIsAdmin: tt.admin})
			header := bearer(h.sim.IssueToken(tt.subject))
			if tt.asUser != "" {
				header.Set("As-User", tt.asUser)
			}
			status, _, body := h.do(t.Context(), http.MethodGet, "/2.0/events?stream_type="+string(tt.stream), header, nil)
			require.Equal(t, tt.want, status)
			if status == http.StatusForbidden {
				code, _ := boxErrorCode(t, body)
				require.Equal(t, "forbidden", code)
			}
			last, ok := h.sim.LastRequest(EndpointEvents)
			require.True(t, ok)
			require.Equal(t, tt.asUser, last.Header.Get("As-User"))
			require.Equal(t, string(tt.stream), last.Query.Get("stream_type"))
		})
	}
}

func TestServer_EmptyPagePosition(t *testing.T) {
	tests := []struct {
		name       string
		zero       bool
		stream     Stream
		wantEmpty  string // position answered on an empty page at the head
		wantNowPos bool   // "now" still answers the head
	}{
		{"admin_logs echoes", false, StreamAdminLogs, "head", true},
		{"admin_logs old behaviour", true, StreamAdminLogs, "0", true},
		{"streaming unaffected", true, StreamAdminLogsStreaming, "head", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{EmptyPageZeroPosition: tt.zero})
			token := h.sim.IssueToken(SubjectEnterprise)
			h.sim.EmitEnterprise(3)
			head := h.sim.HeadPosition(tt.stream)
			want := tt.wantEmpty
			if want == "head" {
				want = head
			}
			p := h.mustPage(token, url.Values{"stream_type": {string(tt.stream)}, "stream_position": {head}})
			require.Empty(t, p.Entries)
			require.Equal(t, want, p.digits())
			p = h.mustPage(token, url.Values{"stream_type": {string(tt.stream)}, "stream_position": {"now"}})
			require.Equal(t, head, p.digits())
		})
	}
}

// Box buffers admin_logs for about a minute: an event shows there that much later
// than in admin_logs_streaming, at the position it was given.
func TestServer_AdminLogsDelay(t *testing.T) {
	h := newHarness(t, Options{AdminLogsDelay: time.Minute})
	token := h.sim.IssueToken(SubjectEnterprise)
	base := h.sim.HeadPosition(StreamAdminLogs)
	admin := func(pos string) page {
		return h.mustPage(token, url.Values{"stream_type": {"admin_logs"}, "stream_position": {pos}})
	}

	first := h.sim.EmitEnterprise(2)
	p := admin("0")
	require.Empty(t, p.Entries, "not due yet")
	require.Equal(t, base, p.digits())
	require.Equal(t, base, admin("now").digits())
	require.Equal(t, base, h.sim.HeadPosition(StreamAdminLogs))
	require.Empty(t, h.sim.Events(StreamAdminLogs))
	streaming := h.mustPage(token, url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {"0"}})
	require.Equal(t, idsOf(first), streaming.ids(), "admin_logs_streaming shows them at once")

	h.clock.Add(30 * time.Second)
	second := h.sim.EmitEnterprise(1)
	h.clock.Add(30 * time.Second)
	p = admin(base)
	require.Equal(t, idsOf(first), p.ids(), "due: served at the positions they were given")
	require.Equal(t, first[1].Position, p.digits(), "the page stops before the event still hidden")
	require.Equal(t, first[1].Position, admin("now").digits())
	require.Equal(t, first, h.sim.Events(StreamAdminLogs))
	p = admin(first[1].Position)
	require.Empty(t, p.Entries)
	require.Equal(t, first[1].Position, p.digits(), "an empty page echoes the position")

	h.clock.Add(30 * time.Second)
	p = admin(first[1].Position)
	require.Equal(t, idsOf(second), p.ids())
	require.Equal(t, second[0].Position, p.digits())
	require.Equal(t, second[0].Position, h.sim.HeadPosition(StreamAdminLogs))
}

func TestServer_ShortPages(t *testing.T) {
	h := newHarness(t, Options{ShortPages: true, Seed: 11})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.EmitUser(300)
	short := 0
	pos := "0"
	var ids []string
	for len(ids) < 300 {
		p := h.mustPage(token, url.Values{"stream_position": {pos}, "limit": {"50"}})
		require.NotEmpty(t, p.Entries)
		if len(p.Entries) < 50 && len(ids)+len(p.Entries) < 300 {
			short++
		}
		ids = append(ids, p.ids()...)
		pos = p.digits()
	}
	require.Positive(t, short, "some pages must be short while more remain")
	require.Equal(t, h.sim.ProducedIDs(StreamAll), ids)
}

func TestServer_Retention(t *testing.T) {
	h := newHarness(t, Options{MaxEvents: 50})
	token := h.sim.IssueToken(SubjectUser)
	first := h.sim.EmitUser(10)
	h.sim.EmitUser(110)
	produced := h.sim.ProducedIDs(StreamAll)
	require.Len(t, produced, 120)
	requireUnique(t, produced)

	ids := h.drain(token, StreamAll, 500)
	require.Equal(t, produced[70:], ids, "only the newest MaxEvents are retained")

	// A position from before the retained window reads from the oldest retained event.
	p := h.mustPage(token, url.Values{"stream_position": {first[3].Position}, "limit": {"5"}})
	require.Equal(t, produced[70:75], p.ids())
}

func TestServer_TrimmedThrough(t *testing.T) {
	h := newHarness(t, Options{MaxEvents: 10})
	for _, stream := range []Stream{StreamAll, StreamChanges, StreamAdminLogs, StreamAdminLogsStreaming} {
		require.Empty(t, h.sim.TrimmedThrough(stream), "nothing trimmed yet")
	}
	user := h.sim.EmitUser(10)
	require.Empty(t, h.sim.TrimmedThrough(StreamAll), "exactly MaxEvents are all retained")
	user = append(user, h.sim.EmitUser(5)...)
	require.Equal(t, user[4].Position, h.sim.TrimmedThrough(StreamAll))
	require.Equal(t, user[4].Position, h.sim.TrimmedThrough(StreamChanges), "changes and sync share the user log")
	require.Equal(t, idsOf(user[5:]), idsOf(h.sim.Events(StreamAll)))
	require.Empty(t, h.sim.TrimmedThrough(StreamAdminLogs), "each log trims on its own")
}

func TestServer_RejectExpiredPositions(t *testing.T) {
	h := newHarness(t, Options{MaxEvents: 10, RejectExpiredPositions: true})
	token := h.sim.IssueToken(SubjectEnterprise)
	before := h.sim.HeadPosition(StreamAll)
	admin := h.sim.EmitEnterprise(3)

	// Before anything was trimmed every position is good, even one older than the log.
	p := h.mustPage(token, url.Values{"stream_position": {before}})
	require.Empty(t, p.Entries)

	user := h.sim.EmitUser(15)
	trimmed := h.sim.TrimmedThrough(StreamAll)
	require.Equal(t, user[4].Position, trimmed)

	tests := []struct {
		name     string
		stream   Stream
		position string
		wantIDs  []string // nil: 400 Invalid stream position
	}{
		{"older than the window", StreamAll, user[3].Position, nil},
		{"before the first event", StreamAll, before, nil},
		{"changes shares the user log", StreamChanges, user[0].Position, nil},
		{"the newest trimmed event", StreamAll, trimmed, idsOf(user[5:])},
		{"retained", StreamAll, user[9].Position, idsOf(user[10:])},
		{"zero", StreamAll, "0", idsOf(user[5:])},
		{"now", StreamAll, "now", make([]string, 0)},
		{"enterprise log untrimmed", StreamAdminLogs, admin[0].Position, idsOf(admin[1:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := h.do(t.Context(), http.MethodGet, "/2.0/events?"+url.Values{
				"stream_type": {string(tt.stream)}, "stream_position": {tt.position},
			}.Encode(), bearer(token), nil)
			if tt.wantIDs == nil {
				requireInvalidPosition(t, status, header, body)
				return
			}
			require.Equal(t, http.StatusOK, status, string(body))
			require.Equal(t, tt.wantIDs, decodePage(t, body).ids())
		})
	}

	// By default an expired position silently reads from the oldest retained event.
	lenient := newHarness(t, Options{MaxEvents: 10})
	events := lenient.sim.EmitUser(15)
	p = lenient.mustPage(lenient.sim.IssueToken(SubjectUser), url.Values{"stream_position": {events[0].Position}})
	require.Equal(t, idsOf(events[5:]), p.ids())
}

// requireInvalidPosition checks Box's answer to an expired or unknown stream position
// (elastic/integrations#18413): no "stream_position" token anywhere in it.
func requireInvalidPosition(t *testing.T, status int, header http.Header, body []byte) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, status, string(body))
	require.Equal(t, "application/json", header.Get("Content-Type"))
	var e map[string]any
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Equal(t, map[string]any{
		"type":       "error",
		"status":     float64(http.StatusBadRequest),
		"code":       "bad_request",
		"message":    "Invalid stream position",
		"help_url":   "http://developers.box.com/docs/#errors",
		"request_id": header.Get("Box-Request-Id"),
	}, e)
	require.NotContains(t, string(body), "stream_position")
}

// Box keeps each log for a time of its own: admin_logs a year, admin_logs_streaming
// two weeks, user events 21 to 31 days.
func TestServer_StreamRetention(t *testing.T) {
	const day = 24 * time.Hour
	h := newHarness(t, Options{Retention: 10 * day, StreamRetention: map[Stream]time.Duration{
		StreamAdminLogs: 365 * day, StreamAdminLogsStreaming: 14 * day,
		StreamAll: 21 * day, StreamSync: 31 * day, // one user log: the longer holds
		"no_such_stream": day,
	}})
	oldAdmin, oldUser := h.sim.EmitEnterprise(2), h.sim.EmitUser(2)
	h.clock.Add(15 * day)
	newAdmin, newUser := h.sim.EmitEnterprise(1), h.sim.EmitUser(1)
	require.Equal(t, idsOf(append(oldAdmin, newAdmin...)), idsOf(h.sim.Events(StreamAdminLogs)))
	require.Equal(t, idsOf(newAdmin), idsOf(h.sim.Events(StreamAdminLogsStreaming)), "two weeks of streaming")
	require.Equal(t, idsOf(append(oldUser, newUser...)), idsOf(h.sim.Events(StreamAll)))

	h.clock.Add(17 * day) // 32 days after the first events
	require.Equal(t, idsOf(newUser), idsOf(h.sim.Events(StreamAll)), "31 days of user events")
	require.Equal(t, idsOf(append(oldAdmin, newAdmin...)), idsOf(h.sim.Events(StreamAdminLogs)), "a year of admin_logs")

	// Retention alone still applies to every log.
	all := newHarness(t, Options{Retention: 10 * day})
	all.sim.EmitEnterprise(1)
	all.sim.EmitUser(1)
	all.clock.Add(11 * day)
	for _, stream := range []Stream{StreamAdminLogs, StreamAdminLogsStreaming, StreamAll} {
		require.Empty(t, all.sim.Events(stream), stream)
	}
}

func TestServer_RetentionByAge(t *testing.T) {
	h := newHarness(t, Options{Retention: time.Hour, RejectExpiredPositions: true, TokenTTL: 24 * time.Hour})
	token := h.sim.IssueToken(SubjectEnterprise)
	old := h.sim.EmitUser(3)
	oldAdmin := h.sim.EmitEnterprise(2)
	h.clock.Add(30 * time.Minute)
	young := h.sim.EmitUser(2)
	youngAdmin := h.sim.EmitEnterprise(1)
	require.Len(t, h.sim.Events(StreamAll), 5, "nothing is an hour old yet")
	require.Empty(t, h.sim.TrimmedThrough(StreamAll))

	h.clock.Add(31 * time.Minute) // the first events are now 61 minutes old; nothing appends
	require.Equal(t, idsOf(young), idsOf(h.sim.Events(StreamAll)), "trimmed on read")
	require.Equal(t, old[2].Position, h.sim.TrimmedThrough(StreamAll))
	require.Equal(t, oldAdmin[1].Position, h.sim.TrimmedThrough(StreamAdminLogs))
	require.NotEmpty(t, h.sim.TrimmedThrough(StreamAdminLogsStreaming))
	require.Equal(t, idsOf(youngAdmin), idsOf(h.sim.Events(StreamAdminLogsStreaming)))
	require.Equal(t, append(idsOf(old), idsOf(young)...), h.sim.ProducedIDs(StreamAll), "ProducedIDs keeps trimmed events")

	// A checkpoint older than Box keeps.
	status, header, body := h.do(t.Context(), http.MethodGet, "/2.0/events?stream_position="+old[1].Position, bearer(token), nil)
	requireInvalidPosition(t, status, header, body)
	p := h.mustPage(token, url.Values{"stream_position": {old[2].Position}})
	require.Equal(t, idsOf(young), p.ids())

	// The log stays a contiguous window: an event created long ago but appended after
	// younger ones waits behind them; on an emptied log it goes at once.
	ancient := json.RawMessage(`{"event_id":"ancient","created_at":"2012-12-12T10:53:43-08:00"}`)
	_, err := h.sim.AddUserEvent(ancient)
	require.NoError(t, err)
	require.Equal(t, append(idsOf(young), "ancient"), idsOf(h.sim.Events(StreamAll)))
	h.clock.Add(time.Hour)
	require.Empty(t, h.sim.Events(StreamAll))
	e, err := h.sim.AddUserEvent(ancient)
	require.NoError(t, err)
	require.Empty(t, h.sim.Events(StreamAll))
	require.Equal(t, e.Position, h.sim.TrimmedThrough(StreamAll))
}

func TestServer_PositionAdvancesOverChangesFilter(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	changes := func(pos, limit string) page {
		return h.mustPage(token, url.Values{"stream_type": {"changes"}, "stream_position": {pos}, "limit": {limit}})
	}
	start := h.sim.HeadPosition(StreamAll)
	previews := []Event{
		h.sim.EmitType(StreamAll, "ITEM_PREVIEW"),
		h.sim.EmitType(StreamAll, "ITEM_PREVIEW"),
		h.sim.EmitType(StreamAll, "ITEM_PREVIEW"),
	}
	require.Empty(t, h.sim.Events(StreamChanges))

	// Only traffic the changes stream does not show: an empty page that moves on.
	p := changes(start, "100")
	require.Empty(t, p.Entries)
	require.Equal(t, previews[2].Position, p.digits())
	p = changes(p.digits(), "100")
	require.Empty(t, p.Entries)
	require.Equal(t, previews[2].Position, p.digits(), "nothing after it: the position is echoed")
	p = changes("0", "100")
	require.Empty(t, p.Entries)
	require.Equal(t, previews[2].Position, p.digits())

	up1 := h.sim.EmitType(StreamAll, "ITEM_UPLOAD")
	h.sim.EmitType(StreamAll, "ITEM_PREVIEW")
	up2 := h.sim.EmitType(StreamAll, "ITEM_TRASH")
	tail := h.sim.EmitType(StreamAll, "ITEM_PREVIEW")

	// A page with limit matches ends at the last match ...
	p = changes(previews[2].Position, "1")
	require.Equal(t, []string{up1.ID}, p.ids())
	require.Equal(t, up1.Position, p.digits())
	p = changes(p.digits(), "1")
	require.Equal(t, []string{up2.ID}, p.ids())
	require.Equal(t, up2.Position, p.digits())
	// ... one that ran out of log at the last entry scanned, match or not.
	p = changes(previews[2].Position, "100")
	require.Equal(t, []string{up1.ID, up2.ID}, p.ids())
	require.Equal(t, tail.Position, p.digits())
	p = changes(up2.Position, "100")
	require.Empty(t, p.Entries)
	require.Equal(t, tail.Position, p.digits())

	// The long poll agrees: nothing new for changes after the tail preview.
	h.sim.mu.Lock()
	pending := h.sim.store.hasAfter(StreamChanges, mustUint(t, tail.Position))
	h.sim.mu.Unlock()
	require.False(t, pending)
}

func TestServer_PositionAdvancesOverAdminFilters(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectEnterprise)
	start := h.sim.HeadPosition(StreamAdminLogs)
	login := h.sim.EmitType(StreamAdminLogs, "LOGIN")
	h.clock.Add(time.Minute)
	upload := h.sim.EmitType(StreamAdminLogs, "UPLOAD")
	h.clock.Add(time.Minute)
	last := h.sim.EmitType(StreamAdminLogs, "UPLOAD")
	head := h.sim.HeadPosition(StreamAdminLogs)
	require.Equal(t, last.Position, head)

	tests := []struct {
		name    string
		query   url.Values
		wantIDs []string
		wantPos string
	}{
		{"type filter ends at the log's end", url.Values{"event_type": {"LOGIN"}, "stream_position": {start}},
			[]string{login.ID}, head},
		{"type filter skips to the limit-th match", url.Values{"event_type": {"UPLOAD"}, "stream_position": {start}, "limit": {"1"}},
			[]string{upload.ID}, upload.Position},
		{"nothing matches", url.Values{"event_type": {"FAILED_LOGIN"}, "stream_position": {start}}, nil, head},
		{"nothing after the position", url.Values{"event_type": {"FAILED_LOGIN"}, "stream_position": {head}}, nil, head},
		{"created_before", url.Values{"created_before": {login.CreatedAt.Add(time.Second).Format(time.RFC3339)},
			"stream_position": {start}}, []string{login.ID}, head},
		{"created_after", url.Values{"created_after": {last.CreatedAt.Add(time.Second).Format(time.RFC3339)},
			"stream_position": {start}}, nil, head},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.query.Set("stream_type", "admin_logs")
			p := h.mustPage(token, tt.query)
			require.Equal(t, tt.wantIDs, nilIfEmpty(p.ids()))
			require.Equal(t, tt.wantPos, p.digits())
		})
	}

	t.Run("streaming", func(t *testing.T) {
		p := h.mustPage(token, url.Values{"stream_type": {"admin_logs_streaming"}, "event_type": {"FAILED_LOGIN"},
			"stream_position": {"0"}})
		require.Empty(t, p.Entries)
		require.Equal(t, h.sim.HeadPosition(StreamAdminLogsStreaming), p.digits())
	})

	t.Run("EmptyPageZeroPosition", func(t *testing.T) {
		old := newHarness(t, Options{EmptyPageZeroPosition: true})
		token := old.sim.IssueToken(SubjectEnterprise)
		start := old.sim.HeadPosition(StreamAdminLogs)
		login := old.sim.EmitType(StreamAdminLogs, "LOGIN")
		old.sim.EmitType(StreamAdminLogs, "UPLOAD")
		p := old.mustPage(token, url.Values{"stream_type": {"admin_logs"}, "event_type": {"FAILED_LOGIN"}, "stream_position": {start}})
		require.Empty(t, p.Entries)
		require.Equal(t, "0", p.digits(), "an empty admin_logs page still answers 0")
		p = old.mustPage(token, url.Values{"stream_type": {"admin_logs"}, "event_type": {"LOGIN"}, "stream_position": {start}})
		require.Equal(t, []string{login.ID}, p.ids())
		require.Equal(t, old.sim.HeadPosition(StreamAdminLogs), p.digits())
	})
}

func TestServer_AddRawEvent(t *testing.T) {
	// Every duplicate and disorder knob at its maximum: raw events ignore them all.
	h := newHarness(t, Options{UserDuplicateRate: 1, StreamingDisorder: true, StreamingDuplicateRate: 1})
	token := h.sim.IssueToken(SubjectEnterprise)

	empty, err := h.sim.AddRawEvent(StreamAll, json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Equal(t, Event{Position: h.sim.HeadPosition(StreamAll), CreatedAt: h.clock.Now(), JSON: json.RawMessage(`{}`)}, empty)

	upload, err := h.sim.AddRawEvent(StreamChanges, json.RawMessage(` { "type" : "event", "event_type" : "ITEM_UPLOAD" } `))
	require.NoError(t, err)
	require.Empty(t, upload.ID)
	require.Equal(t, "ITEM_UPLOAD", upload.Type)
	require.JSONEq(t, `{"type":"event","event_type":"ITEM_UPLOAD"}`, string(upload.JSON))
	require.NotContains(t, string(upload.JSON), " ", "compacted")

	numeric, err := h.sim.AddRawEvent(StreamSync, json.RawMessage(`{"event_id":42,"event_type":"ITEM_PREVIEW","created_at":"yesterday"}`))
	require.NoError(t, err)
	require.Empty(t, numeric.ID)
	require.Equal(t, h.clock.Now(), numeric.CreatedAt)

	withID, err := h.sim.AddRawEvent(StreamAll, json.RawMessage(`{"event_id":"raw-1","created_at":"2024-01-02T03:04:05Z"}`))
	require.NoError(t, err)
	require.Equal(t, "raw-1", withID.ID)
	require.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), withID.CreatedAt)

	require.Equal(t, []Event{empty, upload, numeric, withID}, h.sim.Events(StreamAll), "each appended once, in order")
	require.Equal(t, []Event{upload}, h.sim.Events(StreamChanges), "changes by event_type, whatever stream was named")
	require.Empty(t, h.sim.Events(StreamSync))
	require.Equal(t, []string{"raw-1"}, h.sim.ProducedIDs(StreamAll), "events without an id are not recorded")
	require.Empty(t, h.sim.ProducedIDs(StreamChanges))

	p := h.mustPage(token, url.Values{"stream_position": {"0"}})
	require.Equal(t, []map[string]any{
		{}, {"type": "event", "event_type": "ITEM_UPLOAD"},
		{"event_id": json.Number("42"), "event_type": "ITEM_PREVIEW", "created_at": "yesterday"},
		{"event_id": "raw-1", "created_at": "2024-01-02T03:04:05Z"},
	}, p.Entries)
	require.Equal(t, withID.Position, p.digits())

	// Enterprise: both logs, in order, once each.
	a, err := h.sim.AddRawEvent(StreamAdminLogsStreaming, json.RawMessage(`{}`))
	require.NoError(t, err)
	b, err := h.sim.AddRawEvent(StreamAdminLogs, json.RawMessage(`{"event_id":"raw-2","event_type":"LOGIN"}`))
	require.NoError(t, err)
	require.Equal(t, []Event{a, b}, h.sim.Events(StreamAdminLogs))
	streaming := h.sim.Events(StreamAdminLogsStreaming)
	require.Len(t, streaming, 2)
	require.Equal(t, []string{"", "raw-2"}, idsOf(streaming))
	require.Equal(t, []string{"raw-2"}, h.sim.ProducedIDs(StreamAdminLogsStreaming))
	p = h.mustPage(token, url.Values{"stream_type": {"admin_logs_streaming"}, "stream_position": {"0"}})
	require.Len(t, p.Entries, 2)
	require.Empty(t, p.Entries[0])

	for _, raw := range []string{``, `not json`, `[1,2]`, `"event"`, `42`, `null`, `{"a":1} {}`} {
		_, err := h.sim.AddRawEvent(StreamAll, json.RawMessage(raw))
		require.Error(t, err, raw)
	}
	_, err = h.sim.AddRawEvent("admin", json.RawMessage(`{}`))
	require.Error(t, err)
	require.Len(t, h.sim.Events(StreamAll), 4, "errors append nothing")
}

func TestServer_StreamingDuplicatesAndDisorder(t *testing.T) {
	h := newHarness(t, Options{Seed: 5, StreamingDuplicateRate: 0.2, StreamingDisorder: true})
	token := h.sim.IssueToken(SubjectEnterprise)
	for range 20 {
		h.sim.EmitEnterprise(10)
		h.clock.Add(time.Second)
	}
	produced := h.sim.ProducedIDs(StreamAdminLogsStreaming)
	require.Len(t, produced, 200)
	requireUnique(t, produced)

	admin := h.drain(token, StreamAdminLogs, 500)
	require.Equal(t, produced, admin, "admin_logs is chronological without duplicates")
	adminEvents := h.sim.Events(StreamAdminLogs)
	for i := 1; i < len(adminEvents); i++ {
		require.False(t, adminEvents[i].CreatedAt.Before(adminEvents[i-1].CreatedAt))
	}

	streaming := h.drain(token, StreamAdminLogsStreaming, 500)
	require.Greater(t, len(streaming), len(produced), "duplicates are re-sent")
	require.ElementsMatch(t, produced, slices.Compact(slices.Sorted(slices.Values(streaming))))
	firstSeen := uniqueInOrder(streaming)
	require.NotEqual(t, produced, firstSeen, "streaming is not in created_at order")

	events := h.sim.Events(StreamAdminLogsStreaming)
	disordered := false
	for i := 1; i < len(events); i++ {
		require.Greater(t, mustUint(t, events[i].Position), mustUint(t, events[i-1].Position))
		if events[i].CreatedAt.Before(events[i-1].CreatedAt) {
			disordered = true
		}
	}
	require.True(t, disordered)
}

func TestServer_UserDuplicates(t *testing.T) {
	h := newHarness(t, Options{Seed: 2, UserDuplicateRate: 0.3})
	token := h.sim.IssueToken(SubjectUser)
	emitted := h.sim.EmitUser(100)
	require.Len(t, emitted, 100)
	produced := h.sim.ProducedIDs(StreamAll)
	require.Equal(t, idsOf(emitted), produced)

	ids := h.drain(token, StreamAll, 500)
	require.Greater(t, len(ids), 100, "some events are sent twice")
	require.Equal(t, produced, uniqueInOrder(ids))

	// A scripted re-send of an event is served again but produced once.
	again, err := h.sim.AddUserEvent(emitted[0].JSON)
	require.NoError(t, err)
	require.Greater(t, mustUint(t, again.Position), mustUint(t, emitted[99].Position))
	require.Equal(t, produced, h.sim.ProducedIDs(StreamAll))
}

func ptr(s string) *string { return &s }

func idsOf(events []Event) []string {
	ids := make([]string, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	return ids
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func requireUnique(t *testing.T, ids []string) {
	t.Helper()
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
}

func uniqueInOrder(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err)
	return n
}

func BenchmarkServer_EventsPage(b *testing.B) {
	sim := New(Options{NoAuth: true, Seed: 1})
	defer sim.Close()
	sim.Emit(DefaultMaxEvents)
	events := sim.Events(StreamAll)
	handler := sim.Handler()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pos := events[i%(len(events)-500)].Position
		req := httptest.NewRequest(http.MethodGet, "/2.0/events?limit=500&stream_position="+pos, nil)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
