package boxsim

import (
	"context"
	"encoding/json"
	"net/http"
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
	target := u.RequestURI()
	if position != "" {
		target += "&stream_position=" + position
	}
	out := make(chan string, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.sim.URL()+target, nil)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := h.client.Do(req)
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
