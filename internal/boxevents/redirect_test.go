package boxevents

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClient_NoRedirects: a 3xx from Box, OPTIONS or the real-time server is never followed (net/http
// would forward As-User, and Authorization on a same-host redirect) and becomes a non-retryable
// *APIError that names the target host, never the Location's path or query.
func TestClient_NoRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		writeJSON(t, w, http.StatusOK, []byte(`{"entries":[],"message":"new_change"}`))
	}))
	t.Cleanup(evil.Close)
	target := strings.TrimPrefix(evil.URL, "http://")
	location := evil.URL + "/SECRETPATH/2.0/events?channel=SECRETCHANNEL&token=" + testToken

	tests := []struct {
		name    string
		status  int
		call    func(h *harness) error
		wantErr string
	}{
		{name: "events 307", status: http.StatusTemporaryRedirect, call: func(h *harness) error {
			_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "1"})
			return err
		}, wantErr: "GET /2.0/events (stream_type=all, stream_position=1): 307 redirect to " + target + " not followed"},
		{name: "options 302", status: http.StatusFound, call: func(h *harness) error {
			_, err := h.client.RealtimeServer(context.Background(), StreamAll)
			return err
		}, wantErr: "OPTIONS /2.0/events (stream_type=all): 302 redirect to " + target + " not followed"},
		{name: "long poll 301", status: http.StatusMovedPermanently, call: func(h *harness) error {
			_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/subscribe?channel=SECRETCHANNEL"}, "7")
			return err
		}, wantErr: "GET {base}/subscribe (stream_position=7): 301 redirect to " + target + " not followed"},
		{name: "events 308", status: http.StatusPermanentRedirect, call: func(h *harness) error {
			_, err := h.client.Events(context.Background(), EventsQuery{})
			return err
		}, wantErr: "GET /2.0/events: 308 redirect to " + target + " not followed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elsewhere.Store(0)
			h := setup(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, tt.status)
			}, func(c *Config) { c.AsUser = "777" })
			err := tt.call(h)
			require.EqualError(t, err, strings.ReplaceAll(tt.wantErr, "{base}", h.srv.URL))
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.status, apiErr.StatusCode)
			require.False(t, IsRetryable(err))
			require.False(t, IsAuth(err))
			require.Zero(t, elsewhere.Load(), "the redirect target received nothing")
			require.Len(t, h.requests(), 1, "not retried")
			require.NotContains(t, err.Error(), "SECRET")
			require.NotContains(t, err.Error(), testToken)
			h.noWaits(t)
		})
	}

	t.Run("relative location names the same host", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/SECRETPATH?x=1", http.StatusSeeOther)
		})
		_, err := h.client.Events(context.Background(), EventsQuery{})
		require.EqualError(t, err, "GET /2.0/events: 303 redirect to "+strings.TrimPrefix(h.srv.URL, "http://")+" not followed")
		require.Len(t, h.requests(), 1)
	})

	t.Run("no location", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTemporaryRedirect)
		})
		_, err := h.client.Events(context.Background(), EventsQuery{})
		require.EqualError(t, err, "GET /2.0/events: 307 redirect not followed")
	})

	t.Run("caller's client untouched", func(t *testing.T) {
		hc := &http.Client{}
		c, err := New(Config{Auth: &fakeAuth{tokens: []string{testToken}}, HTTPClient: hc})
		require.NoError(t, err)
		require.Nil(t, hc.CheckRedirect, "New does not modify the caller's client")
		require.NotSame(t, hc, c.http)
		require.NotNil(t, c.http.CheckRedirect)
	})
}
