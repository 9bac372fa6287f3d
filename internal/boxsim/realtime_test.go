package boxsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// options calls OPTIONS /2.0/events and returns the decoded first entry.
func (h *harness) options(token, query string) map[string]any {
	h.t.Helper()
	status, _, body := h.do(context.Background(), http.MethodOptions, "/2.0/events"+query, bearer(token), nil)
	require.Equal(h.t, http.StatusOK, status, string(body))
	var resp struct {
		ChunkSize int              `json:"chunk_size"`
		Entries   []map[string]any `json:"entries"`
	}
	require.NoError(h.t, json.Unmarshal(body, &resp))
	require.Equal(h.t, 1, resp.ChunkSize)
	require.Len(h.t, resp.Entries, 1)
	return resp.Entries[0]
}

// longPoll polls the realtime URL (relative to the simulator) in the background.
func (h *harness) longPoll(ctx context.Context, rawURL, position, token string) <-chan string {
	h.t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(h.t, err)
	target := h.sim.URL() + u.RequestURI()
	if position != "" {
		target += "&stream_position=" + position
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return pollAt(ctx, h.client, target, header)
}

// pollAt sends a long-poll to the absolute URL target in the background and delivers
// the answer's message, or "error: ..." when there is no decodable answer.
func pollAt(ctx context.Context, client *http.Client, target string, header http.Header) <-chan string {
	out := make(chan string, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		var msg struct {
			Message string `json:"message"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
			out <- "error: " + err.Error()
			return
		}
		out <- msg.Message
	}()
	return out
}

func receive(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(waitTimeout):
		t.Fatal("no long-poll answer")
		return ""
	}
}

func requireNoAnswer(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case msg := <-ch:
		t.Fatalf("unexpected long-poll answer %q", msg)
	default:
	}
}

func TestServer_Options(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		query       string
		wantTTL     any
		wantRetries any
		wantTimeout float64
		wantStream  string
	}{
		{"defaults as strings", Options{}, "", "10", "10", 610, "all"},
		{"numbers", Options{RealtimeFieldsAsNumbers: true, TTL: 5, MaxRetries: 3, RetryTimeout: 30}, "", 5.0, 3.0, 30, "all"},
		{"stream_type kept", Options{}, "?stream_type=changes", "10", "10", 610, "changes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			e := h.options(h.sim.IssueToken(SubjectUser), tt.query)
			require.Equal(t, "realtime_server", e["type"])
			require.Equal(t, tt.wantTTL, e["ttl"])
			require.Equal(t, tt.wantRetries, e["max_retries"])
			require.InDelta(t, tt.wantTimeout, e["retry_timeout"], 0)
			u, err := url.Parse(e["url"].(string))
			require.NoError(t, err)
			require.Equal(t, h.sim.URL()+"/subscribe", u.Scheme+"://"+u.Host+u.Path)
			require.Len(t, u.Query().Get("channel"), 20)
			require.Equal(t, tt.wantStream, u.Query().Get("stream_type"))
		})
	}

	h := newHarness(t, Options{})
	status, _, _ := h.do(t.Context(), http.MethodOptions, "/2.0/events", nil, nil)
	require.Equal(t, http.StatusUnauthorized, status)
}

func TestServer_LongPollNewChangeImmediately(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	pos := h.sim.HeadPosition(StreamAll)
	h.sim.EmitUser(1)
	srv := h.options(token, "")
	require.Equal(t, "new_change", receive(t, h.longPoll(t.Context(), srv["url"].(string), pos, token)))

	last, ok := h.sim.LastRequest(EndpointLongPoll)
	require.True(t, ok)
	require.Equal(t, "Bearer "+token, last.Header.Get("Authorization"))
	require.Equal(t, pos, last.Query.Get("stream_position"))
}

func TestServer_LongPollHeldUntilEvent(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	srv := h.options(token, "?stream_type=changes")
	answer := h.longPoll(t.Context(), srv["url"].(string), h.sim.HeadPosition(StreamAll), token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))

	// An event outside the channel's stream does not wake it.
	h.sim.EmitType(StreamAll, "ITEM_PREVIEW")
	h.clock.Add(time.Duration(DefaultRetryTimeout-1) * time.Second)
	requireNoAnswer(t, answer)

	h.sim.EmitType(StreamAll, "ITEM_UPLOAD")
	require.Equal(t, "new_change", receive(t, answer))
}

func TestServer_LongPollReconnectAfterRetryTimeout(t *testing.T) {
	h := newHarness(t, Options{RetryTimeout: 30})
	token := h.sim.IssueToken(SubjectUser)
	srv := h.options(token, "")
	answer := h.longPoll(t.Context(), srv["url"].(string), h.sim.HeadPosition(StreamAll), token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))
	h.clock.Add(29 * time.Second)
	requireNoAnswer(t, answer)
	h.clock.Add(time.Second)
	require.Equal(t, "reconnect", receive(t, answer))
}

func TestServer_LongPollMaxRetries(t *testing.T) {
	h := newHarness(t, Options{MaxRetries: 3})
	token := h.sim.IssueToken(SubjectUser)
	pos := h.sim.HeadPosition(StreamAll)
	h.sim.EmitUser(1)
	srv := h.options(token, "")
	for range 3 {
		require.Equal(t, "new_change", receive(t, h.longPoll(t.Context(), srv["url"].(string), pos, token)))
	}
	require.Equal(t, "max_retries", receive(t, h.longPoll(t.Context(), srv["url"].(string), pos, token)))

	fresh := h.options(token, "")
	require.Equal(t, "new_change", receive(t, h.longPoll(t.Context(), fresh["url"].(string), pos, token)))
}

func TestServer_LongPollChannels(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	pos := h.sim.HeadPosition(StreamAll)
	h.sim.EmitUser(1)

	unknown := h.sim.URL() + "/subscribe?channel=0123456789abcdef0123&stream_type=all"
	require.Equal(t, "reconnect", receive(t, h.longPoll(t.Context(), unknown, pos, token)))

	srv := h.options(token, "")
	h.clock.Add(time.Duration(DefaultTTL) * time.Minute)
	require.Equal(t, "reconnect", receive(t, h.longPoll(t.Context(), srv["url"].(string), pos, token)), "ttl expired")

	// No stream_position (.NET legacy) waits for events after the current head.
	srv = h.options(token, "")
	answer := h.longPoll(t.Context(), srv["url"].(string), "", "")
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 3, waitTimeout))
	requireNoAnswer(t, answer)
	h.sim.EmitUser(1)
	require.Equal(t, "new_change", receive(t, answer))
	last, _ := h.sim.LastRequest(EndpointLongPoll)
	require.Empty(t, last.Header.Get("Authorization"), "the long-poll does not require a token")

	srv = h.options(token, "")
	status, _, body := h.do(t.Context(), http.MethodGet, strings.TrimPrefix(srv["url"].(string), h.sim.URL())+"&stream_position=x", nil, nil)
	require.Equal(t, http.StatusBadRequest, status)
	code, _ := boxErrorCode(t, body)
	require.Equal(t, "invalid_parameter", code)
}

func TestServer_LongPollReleasedOnCancelAndClose(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	srv := h.options(token, "")
	head := h.sim.HeadPosition(StreamAll)

	ctx, cancel := context.WithCancel(t.Context())
	canceled := h.longPoll(ctx, srv["url"].(string), head, token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))
	cancel()
	require.Contains(t, receive(t, canceled), "context canceled")

	held := h.longPoll(t.Context(), srv["url"].(string), head, token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 2, waitTimeout))
	closed := make(chan struct{})
	go func() {
		h.sim.Close()
		close(closed)
	}()
	require.Contains(t, receive(t, held), "error")
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return while a long-poll was held")
	}
}

// realtimeHost is the realtime server name Box documents (polling.md).
const realtimeHost = "2.realtime.services.box.net:8443"

func TestServer_StartRealtime(t *testing.T) {
	h := newHarness(t, Options{RetryTimeout: 30})
	token := h.sim.IssueToken(SubjectEnterprise)
	base, err := h.sim.StartRealtime("127.0.0.2:0")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.2:"), base)
	require.Equal(t, base, h.sim.RealtimeURL())
	require.NotEqual(t, h.sim.URL(), base)
	_, err = h.sim.StartRealtime("")
	require.Error(t, err, "the realtime server starts once")

	// OPTIONS now names the realtime server, which answers the long poll.
	pos := h.sim.HeadPosition(StreamAll)
	h.sim.EmitUser(1)
	srv := h.options(token, "")
	rtURL := srv["url"].(string)
	require.True(t, strings.HasPrefix(rtURL, base+"/subscribe?channel="), rtURL)
	header := http.Header{"Authorization": {"Bearer " + token}, "As-User": {"19283746"}}
	require.Equal(t, "new_change", receive(t, pollAt(t.Context(), h.client, rtURL+"&stream_position="+pos, header)))
	last, ok := h.sim.LastRequest(EndpointLongPoll)
	require.True(t, ok)
	require.True(t, last.Realtime)
	require.False(t, last.TLS)
	require.Equal(t, strings.TrimPrefix(base, "http://"), last.Host)
	require.Equal(t, "Bearer "+token, last.Header.Get("Authorization"), "what reached the realtime host")
	require.Equal(t, "19283746", last.Header.Get("As-User"))

	// Held on the clock there too.
	answer := pollAt(t.Context(), h.client, rtURL+"&stream_position="+h.sim.HeadPosition(StreamAll), nil)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 2, waitTimeout))
	requireNoAnswer(t, answer)
	h.clock.Add(30 * time.Second)
	require.Equal(t, "reconnect", receive(t, answer))

	// It serves the long poll only.
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		r := h.rawURL(t.Context(), method, base+"/2.0/events", bearer(token), "")
		require.Equal(t, http.StatusNotFound, r.status, method)
	}
	r := h.rawURL(t.Context(), http.MethodPost, base+"/oauth2/token", nil, "")
	require.Equal(t, http.StatusNotFound, r.status)
	require.Zero(t, h.sim.Requests(EndpointEvents))
	require.Equal(t, 1, h.sim.Requests(EndpointOptions))
	require.Zero(t, h.sim.Requests(EndpointToken))

	// The API keeps serving /subscribe (for a test that maps a realtime name to it).
	require.Equal(t, "new_change", receive(t, h.longPoll(t.Context(), rtURL, pos, token)))
	last, _ = h.sim.LastRequest(EndpointLongPoll)
	require.False(t, last.Realtime)

	// Long-poll faults answer on the realtime server.
	h.sim.InjectFault(EndpointLongPoll, Fault{Kind: FaultProxyHTML})
	h.sim.InjectFault(EndpointLongPoll, Fault{Kind: FaultReset})
	r = h.rawURL(t.Context(), http.MethodGet, rtURL, nil, "")
	require.Equal(t, http.StatusBadGateway, r.status)
	r = h.rawURL(t.Context(), http.MethodGet, rtURL, nil, "")
	require.Error(t, r.doErr)
	log := h.sim.RequestLog(EndpointLongPoll)
	require.Len(t, log, 5)
	require.Equal(t, []FaultKind{FaultProxyHTML, FaultReset}, []FaultKind{log[3].Fault, log[4].Fault})
	require.True(t, log[4].Realtime)

	// Close shuts it down, releasing a held poll.
	held := pollAt(t.Context(), h.client, rtURL+"&stream_position="+h.sim.HeadPosition(StreamAll), nil)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 6, waitTimeout))
	h.sim.Close()
	require.Contains(t, receive(t, held), "error")
	r = h.rawURL(t.Context(), http.MethodGet, rtURL, nil, "")
	require.Error(t, r.doErr, "closed")
	_, err = h.sim.StartRealtime("")
	require.Error(t, err, "no listener after Close")
}

func TestServer_StartRealtimeLoopbackOnly(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "example.com:80", "192.0.2.1:0", "nonsense"} {
		_, err := s.StartRealtime(addr)
		require.Error(t, err, addr)
	}
	base, err := s.StartRealtime(":0")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	require.Empty(t, s.URL(), "the API does not listen")
}

func TestServer_RealtimeHandlerTLS(t *testing.T) {
	h := newHarness(t, Options{RealtimeURLBase: "https://" + realtimeHost + "/"})
	ts := httptest.NewUnstartedServer(h.sim.RealtimeHandler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	// Resolve the realtime name to the test's TLS server, as a test's own dialer would.
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = "example.com" // httptest's certificate
	tr.DisableKeepAlives = true
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != realtimeHost {
			return nil, fmt.Errorf("unexpected dial to %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, ts.Listener.Addr().String())
	}
	client := &http.Client{Transport: tr}

	_, err := h.sim.StartRealtime("")
	require.NoError(t, err)
	token := h.sim.IssueToken(SubjectUser)
	pos := h.sim.HeadPosition(StreamAll)
	srv := h.options(token, "?stream_type=sync")
	rtURL := srv["url"].(string)
	require.True(t, strings.HasPrefix(rtURL, "https://"+realtimeHost+"/subscribe?channel="), "RealtimeURLBase wins over StartRealtime: %s", rtURL)
	require.True(t, strings.HasSuffix(rtURL, "&stream_type=sync"), rtURL)

	answer := pollAt(t.Context(), client, rtURL+"&stream_position="+pos, http.Header{"Authorization": {"Bearer " + token}})
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))
	synced, err := h.sim.AddRawEvent(StreamSync, json.RawMessage(
		`{"event_id":"s1","event_type":"ITEM_UPLOAD","source":{"type":"folder","sync_state":"synced"}}`))
	require.NoError(t, err)
	require.Equal(t, []Event{synced}, h.sim.Events(StreamSync))
	require.Equal(t, "new_change", receive(t, answer))
	last, ok := h.sim.LastRequest(EndpointLongPoll)
	require.True(t, ok)
	require.Equal(t, realtimeHost, last.Host)
	require.True(t, last.TLS)
	require.True(t, last.Realtime)
	require.Equal(t, "Bearer "+token, last.Header.Get("Authorization"))
}

func TestServer_RealtimeURLBase(t *testing.T) {
	for _, base := range []string{"2.realtime.services.box.net", "ftp://2.realtime.services.box.net",
		"http://", "http://h/subscribe", "http://h?x=1", "http://u:p@h", "http://h#f", "://h"} {
		require.Panics(t, func() { New(Options{RealtimeURLBase: base}) }, base)
	}
	h := newHarness(t, Options{RealtimeURLBase: "http://" + realtimeHost})
	h.sim.InjectFault(EndpointOptions, Fault{Kind: FaultMalformedJSON})
	r := h.raw(t.Context(), http.MethodOptions, "/2.0/events", nil, "")
	require.False(t, json.Valid(r.body))
	require.Contains(t, string(r.body), `"url":"http://`+realtimeHost+`/subscribe?channel=`, "mangled bodies name it too")
}

func TestServer_RealtimeRequiresAuth(t *testing.T) {
	h := newHarness(t, Options{RealtimeRequiresAuth: true, NoAuth: true})
	token := h.sim.IssueToken(SubjectUser)
	pos := h.sim.HeadPosition(StreamAll)
	h.sim.EmitUser(1)
	srv := h.options("", "") // NoAuth covers OPTIONS, not the realtime server
	target := strings.TrimPrefix(srv["url"].(string), h.sim.URL()) + "&stream_position=" + pos

	tests := []struct {
		name      string
		header    http.Header
		challenge string
	}{
		{"no token", nil, `error="invalid_request"`},
		{"unknown token", bearer("nope"), `error="invalid_token"`},
		{"not bearer", http.Header{"Authorization": {"Basic " + token}}, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.raw(t.Context(), http.MethodGet, target, tt.header, "")
			require.Equal(t, http.StatusUnauthorized, r.status)
			require.Contains(t, r.header.Get("WWW-Authenticate"), `Bearer realm="Service"`)
			require.Contains(t, r.header.Get("WWW-Authenticate"), tt.challenge)
			require.Empty(t, r.body)
		})
	}
	require.Equal(t, 3, h.sim.Requests(EndpointLongPoll), "refused polls are recorded")

	require.Equal(t, "new_change", receive(t, h.longPoll(t.Context(), srv["url"].(string), pos, token)))
	h.sim.ExpireTokens()
	r := h.raw(t.Context(), http.MethodGet, target, bearer(token), "")
	require.Equal(t, http.StatusUnauthorized, r.status, "tokens expire for the realtime server too")
}

func TestServer_RealtimeIgnoresStreamType(t *testing.T) {
	h := newHarness(t, Options{RealtimeIgnoresStreamType: true})
	token := h.sim.IssueToken(SubjectUser)
	head := h.sim.HeadPosition(StreamAll)
	srv := h.options(token, "?stream_type=changes")
	u, err := url.Parse(srv["url"].(string))
	require.NoError(t, err)
	require.Equal(t, "changes", u.Query().Get("stream_type"), "the URL still names the stream asked for")

	answer := h.longPoll(t.Context(), srv["url"].(string), head, token)
	require.NoError(t, h.sim.WaitRequests(EndpointLongPoll, 1, waitTimeout))
	preview := h.sim.EmitType(StreamAll, "ITEM_PREVIEW")
	require.Equal(t, "new_change", receive(t, answer), "announced although changes does not show it")

	p := h.mustPage(token, url.Values{"stream_type": {"changes"}, "stream_position": {head}})
	require.Empty(t, p.Entries)
	require.Equal(t, preview.Position, p.digits())
}
