package boxevents

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClient_RealtimeServer(t *testing.T) {
	tests := []struct {
		name string
		body string
		want RealtimeServer
	}{
		{name: "strings as Box sends them", body: string(readTestdata(t, "realtime_servers.json")), want: RealtimeServer{
			Type: "realtime_server", URL: "http://2.realtime.services.box.net/subscribe?channel=cc807c9c4869ffb1c81a&stream_type=all",
			TTL: 10, MaxRetries: 10, RetryTimeout: 610,
		}},
		{name: "numbers, first realtime_server entry", body: string(readTestdata(t, "realtime_servers_numbers.json")), want: RealtimeServer{
			Type: "realtime_server", URL: "https://2.realtime.services.box.net/subscribe?channel=e9de49a73f0c93a872d7&stream_type=all",
			TTL: 10, MaxRetries: 10, RetryTimeout: 610,
		}},
		{name: "no realtime_server type: first entry", body: `{"entries":[{"url":"https://rt.example/sub?c=1","ttl":"x"},{"url":"https://other"}]}`,
			want: RealtimeServer{URL: "https://rt.example/sub?c=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, []byte(tt.body))
			}, func(c *Config) { c.AsUser = "777" })
			got, err := h.client.RealtimeServer(context.Background(), StreamAll)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			reqs := h.requests()
			require.Len(t, reqs, 1)
			require.Equal(t, http.MethodOptions, reqs[0].Method)
			require.Equal(t, "/2.0/events", reqs[0].Path)
			require.Equal(t, "stream_type=all", reqs[0].RawQuery)
			require.Equal(t, "Bearer "+testToken, reqs[0].Header.Get("Authorization"))
			require.Equal(t, "777", reqs[0].Header.Get("As-User"))
		})
	}
}

// TestClient_RealtimeServerStreamType: OPTIONS names the stream, as Box's Python legacy and .NET
// SDKs do, because a channel for "all" announces changes a changes or sync stream does not show.
func TestClient_RealtimeServerStreamType(t *testing.T) {
	tests := []struct {
		stream    StreamType
		wantQuery string
		wantErr   string
	}{
		{stream: StreamAll, wantQuery: "stream_type=all"},
		{stream: StreamChanges, wantQuery: "stream_type=changes"},
		{stream: StreamSync, wantQuery: "stream_type=sync"},
		{stream: "", wantQuery: ""},
		{stream: StreamAdminLogsStreaming, wantErr: `realtime server: stream type "admin_logs_streaming" has no long poll (want all, changes or sync)`},
		{stream: "everything", wantErr: `unknown stream type "everything"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.stream), func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, readTestdata(t, "realtime_servers.json"))
			})
			_, err := h.client.RealtimeServer(context.Background(), tt.stream)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Empty(t, h.requests(), "nothing is sent")
				return
			}
			require.NoError(t, err)
			reqs := h.requests()
			require.Len(t, reqs, 1)
			require.Equal(t, http.MethodOptions, reqs[0].Method)
			require.Equal(t, tt.wantQuery, reqs[0].RawQuery)
		})
	}

	t.Run("named in errors", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(t, w, http.StatusOK, []byte(`{"entries":[]}`))
		})
		_, err := h.client.RealtimeServer(context.Background(), StreamChanges)
		require.EqualError(t, err, "OPTIONS /2.0/events (stream_type=changes): decoding response: no realtime server in the answer")
	})
}

func TestClient_RealtimeServerErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "no entries", body: `{"chunk_size":0,"entries":[]}`, wantErr: "OPTIONS /2.0/events: decoding response: no realtime server in the answer"},
		{name: "null entries", body: `{"entries":null}`, wantErr: "no realtime server in the answer"},
		{name: "missing entries", body: `{}`, wantErr: "no realtime server in the answer"},
		{name: "empty url", body: `{"entries":[{"type":"realtime_server","url":""}]}`, wantErr: "realtime server url is empty"},
		{name: "not http", body: `{"entries":[{"type":"realtime_server","url":"ws://rt.example/sub?channel=SECRET"}]}`,
			wantErr: "OPTIONS /2.0/events: decoding response: realtime server url is not an absolute http or https url"},
		{name: "relative url", body: `{"entries":[{"type":"realtime_server","url":"/subscribe?channel=SECRET"}]}`,
			wantErr: "not an absolute http or https url"},
		{name: "entries not an array", body: `{"entries":{"url":"https://x"}}`, wantErr: "cannot unmarshal object"},
		{name: "html", body: `<html></html>`, wantErr: "invalid character '<'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, []byte(tt.body))
			})
			_, err := h.client.RealtimeServer(context.Background(), "")
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "SECRET")
			var decErr *DecodeError
			require.ErrorAs(t, err, &decErr)
		})
	}
}

func TestRealtimeServer_UnmarshalJSON(t *testing.T) {
	var s RealtimeServer
	require.NoError(t, s.UnmarshalJSON([]byte(`{"type":"realtime_server","url":"https://x","ttl":" 5 ","max_retries":null,"retry_timeout":"610"}`)))
	require.Equal(t, RealtimeServer{Type: "realtime_server", URL: "https://x", TTL: 5, RetryTimeout: 610}, s)

	require.NoError(t, s.UnmarshalJSON([]byte(`"not an object"`)))
	require.Equal(t, RealtimeServer{}, s)

	require.Error(t, s.UnmarshalJSON([]byte(`{`)))
}

func TestLongPollURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		pos  StreamPosition
		want string
	}{
		{name: "query kept in order", in: "http://2.realtime.services.box.net/subscribe?channel=cc807c9c4869ffb1c81a&stream_type=all",
			pos:  "1348790499819",
			want: "http://2.realtime.services.box.net/subscribe?channel=cc807c9c4869ffb1c81a&stream_type=all&stream_position=1348790499819"},
		{name: "no query", in: "https://rt.example/subscribe", pos: "5", want: "https://rt.example/subscribe?stream_position=5"},
		{name: "empty query", in: "https://rt.example/subscribe?", pos: "5", want: "https://rt.example/subscribe?stream_position=5"},
		{name: "existing position replaced", in: "https://rt.example/s?stream_position=1&channel=a", pos: "9",
			want: "https://rt.example/s?channel=a&stream_position=9"},
		{name: "no position", in: "https://rt.example/s?channel=a", pos: "", want: "https://rt.example/s?channel=a"},
		{name: "escaped", in: "https://rt.example/s?channel=a", pos: "a&b", want: "https://rt.example/s?channel=a&stream_position=a%26b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, longPollURL(u, tt.pos).String())
			require.Equal(t, tt.in, u.String(), "the input is not modified")
		})
	}
}

func TestClient_LongPollMessages(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{body: `{"message":"new_change"}`, want: MessageNewChange},
		{body: `{"version":1,"message":"reconnect"}`, want: MessageReconnect},
		{body: `{"message":"max_retries"}`, want: MessageMaxRetries},
		{body: `{"message":"something_new","extra":[1]}`, want: "something_new"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, []byte(tt.body))
			}, func(c *Config) { c.AsUser = "777" })
			srv := RealtimeServer{Type: "realtime_server", URL: h.srv.URL + "/subscribe?channel=abc&stream_type=all", RetryTimeout: 610}
			got, err := h.client.LongPoll(context.Background(), srv, "1152922976252290886")
			require.NoError(t, err)
			require.Equal(t, tt.want, got)

			reqs := h.requests()
			require.Len(t, reqs, 1)
			require.Equal(t, http.MethodGet, reqs[0].Method)
			require.Equal(t, "/subscribe", reqs[0].Path)
			require.Equal(t, "channel=abc&stream_type=all&stream_position=1152922976252290886", reqs[0].RawQuery)
			require.Equal(t, "Bearer "+testToken, reqs[0].Header.Get("Authorization"))
			require.Empty(t, reqs[0].Header.Get("As-User"), "As-User is for the Box API only")
		})
	}
}

func TestClient_LongPollErrors(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		})
		srv := RealtimeServer{URL: h.srv.URL + "/subscribe?channel=SECRET"}
		_, err := h.client.LongPoll(context.Background(), srv, "12")
		require.EqualError(t, err, "GET "+h.srv.URL+"/subscribe (stream_position=12): 401 unauthorized")
		require.Equal(t, []string{testToken}, h.auth.Invalidated())
		require.Len(t, h.requests(), 1, "never retried")
	})
	t.Run("5xx not retried", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/s"}, "12")
		require.True(t, IsRetryable(err))
		require.Len(t, h.requests(), 1)
		h.noWaits(t)
	})
	t.Run("no message", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(t, w, http.StatusOK, []byte(`{"version":1}`))
		})
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/s?channel=SECRET"}, "12")
		require.EqualError(t, err, "GET "+h.srv.URL+"/s (stream_position=12): decoding response: answer has no message")
	})
	t.Run("oversized", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(t, w, http.StatusOK, []byte(`{"message":"`+strings.Repeat("x", maxLongPollBody)+`"}`))
		})
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/s"}, "12")
		require.ErrorContains(t, err, "response body exceeds 64 KiB")
	})
	t.Run("invalid url", func(t *testing.T) {
		h := setup(t, nil)
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: "::nope?channel=SECRET"}, "12")
		require.EqualError(t, err, "long poll: realtime server url is not an absolute http or https url")
	})
	t.Run("token error", func(t *testing.T) {
		h := setup(t, nil)
		h.auth.err = context.DeadlineExceeded
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/s"}, "12")
		require.True(t, IsAuth(err))
	})
}

// holdPoll answers nothing until the client gives up; arrived receives each request.
func holdPoll(t *testing.T, arrived chan<- struct{}) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestClient_LongPollTimeout(t *testing.T) {
	tests := []struct {
		name         string
		retryTimeout int
		deadline     time.Duration
	}{
		{name: "server's retry_timeout", retryTimeout: 30, deadline: 40 * time.Second},
		{name: "default retry_timeout", retryTimeout: 0, deadline: 620 * time.Second},
		{name: "retry_timeout capped", retryTimeout: 7200, deadline: time.Hour + 10*time.Second},
		{name: "retry_timeout beyond a time.Duration (the largest int)", retryTimeout: math.MaxInt, deadline: time.Hour + 10*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			h := setup(t, nil)
			h.handle(holdPoll(t, arrived))
			srv := RealtimeServer{URL: h.srv.URL + "/subscribe?channel=abc", RetryTimeout: tt.retryTimeout}
			done := async(func() (string, error) { return h.client.LongPoll(context.Background(), srv, "1") })
			<-arrived

			h.clock.Add(tt.deadline - time.Second)
			select {
			case r := <-done:
				t.Fatalf("returned before the deadline: %q, %v", r.v, r.err)
			default:
			}
			h.clock.Add(time.Second)
			msg, err := await(t, done)
			require.NoError(t, err)
			require.Equal(t, MessageTimeout, msg)
			h.noWaits(t)
		})
	}
}

func TestClient_LongPollCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	h := setup(t, nil)
	h.handle(holdPoll(t, arrived))
	ctx, cancel := context.WithCancel(context.Background())
	done := async(func() (string, error) {
		return h.client.LongPoll(ctx, RealtimeServer{URL: h.srv.URL + "/subscribe"}, "1")
	})
	<-arrived
	cancel()
	msg, err := await(t, done)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, msg)
}
