package boxsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServer_Start(t *testing.T) {
	s := New(Options{})
	base, err := s.Start("")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	require.Equal(t, base, s.URL())

	resp, err := http.Get(base + "/2.0/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	_, err = s.Start("")
	require.Error(t, err, "a server starts once")
	s.Close()
	s.Close() // idempotent
	resp, err = http.Get(base + "/2.0/events")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "closed")
}

func TestServer_StartLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "example.com:80", "192.0.2.1:0", "nonsense"} {
		_, err := New(Options{}).Start(addr)
		require.Error(t, err, addr)
	}
	for _, addr := range []string{"localhost:0", "127.0.0.1:0", ":0"} {
		s := New(Options{})
		_, err := s.Start(addr)
		require.NoError(t, err, addr)
		s.Close()
	}
}

func TestServer_HandlerMounted(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	require.Empty(t, s.URL())

	req, err := http.NewRequest(http.MethodOptions, ts.URL+"/2.0/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.IssueToken(SubjectUser))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Entries []struct {
			URL string `json:"url"`
		} `json:"entries"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.True(t, strings.HasPrefix(body.Entries[0].URL, ts.URL+"/subscribe?channel="), body.Entries[0].URL)
}

func TestServer_Routing(t *testing.T) {
	h := newHarness(t, Options{})
	status, header, body := h.do(t.Context(), http.MethodGet, "/2.0/folders/0", nil, nil)
	require.Equal(t, http.StatusNotFound, status)
	code, _ := boxErrorCode(t, body)
	require.Equal(t, "not_found", code)
	require.Equal(t, "application/json", header.Get("Content-Type"))

	status, _, _ = h.do(t.Context(), http.MethodPost, "/2.0/events", nil, nil)
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Zero(t, h.sim.Requests(EndpointEvents), "unrouted methods are not counted")

	status, header, _ = h.do(t.Context(), http.MethodGet, "/2.0/events", bearer(h.sim.IssueToken(SubjectUser)), nil)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, header.Get("Box-Request-Id"))
}

func TestServer_WaitRequests(t *testing.T) {
	h := newHarness(t, Options{})
	require.Error(t, h.sim.WaitRequests(EndpointEvents, 1, time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- h.sim.WaitRequests(EndpointEvents, 2, waitTimeout) }()
	for range 2 {
		h.getEvents("", nil)
	}
	require.NoError(t, <-done)
	require.Len(t, h.sim.RequestLog(EndpointEvents), 2)
	require.Empty(t, h.sim.RequestLog(EndpointToken))
	_, ok := h.sim.LastRequest(EndpointOptions)
	require.False(t, ok)
}
