package boxevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	auth := &fakeAuth{tokens: []string{testToken}}

	_, err := New(Config{})
	require.EqualError(t, err, "boxevents: config has no authenticator")

	_, err = New(Config{Auth: auth, BaseURL: "ftp://box"})
	require.Error(t, err)

	_, err = New(Config{Auth: auth, HTTPClient: &http.Client{Timeout: time.Second}})
	require.ErrorContains(t, err, "timeout must be 0")

	c, err := New(Config{Auth: auth})
	require.NoError(t, err)
	require.Equal(t, "https://api.box.com/2.0/events", c.events.String())
	require.Equal(t, DefaultRequestTimeout, c.requestTimeout)
	require.Equal(t, DefaultMaxAttempts, c.maxAttempts)
	require.Equal(t, int64(DefaultMaxBodyBytes), c.maxBody)

	c, err = New(Config{Auth: auth, BaseURL: "http://127.0.0.1:8080/box/"})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080/box/2.0/events", c.events.String())
}

func TestClient_EventsRequest(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, http.StatusOK, []byte(`{"chunk_size":0,"next_stream_position":"9","entries":[]}`))
	}, func(c *Config) {
		c.AsUser = "19094712345"
		c.UserAgent = "telegraf-box/test"
	})

	page, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "1152922976252290886", Limit: 100})
	require.NoError(t, err)
	require.Equal(t, StreamPosition("9"), page.NextStreamPosition)

	reqs := h.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodGet, r.Method)
	require.Equal(t, "/2.0/events", r.Path)
	require.Equal(t, "limit=100&stream_position=1152922976252290886&stream_type=all", r.RawQuery)
	require.Equal(t, "Bearer "+testToken, r.Header.Get("Authorization"))
	require.Equal(t, "19094712345", r.Header.Get("As-User"))
	require.Equal(t, "telegraf-box/test", r.Header.Get("User-Agent"))
	require.Equal(t, "application/json", r.Header.Get("Accept"))
}

func TestClient_EventsQuery(t *testing.T) {
	pst := time.FixedZone("PST", -8*3600)
	after := time.Date(2012, 12, 12, 10, 53, 43, 123, pst)
	before := time.Date(2012, 12, 13, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		q    EventsQuery
		want url.Values
	}{
		{name: "nothing", q: EventsQuery{}, want: url.Values{}},
		{name: "now", q: EventsQuery{StreamType: StreamChanges, StreamPosition: PositionNow},
			want: url.Values{"stream_type": {"changes"}, "stream_position": {"now"}}},
		{name: "limit clamped", q: EventsQuery{StreamType: StreamAll, Limit: 800},
			want: url.Values{"stream_type": {"all"}, "limit": {"500"}}},
		{name: "negative limit omitted", q: EventsQuery{Limit: -1}, want: url.Values{}},
		{name: "event types for admin streams",
			q:    EventsQuery{StreamType: StreamAdminLogsStreaming, EventTypes: []string{"LOGIN", "FAILED_LOGIN"}, CreatedAfter: after},
			want: url.Values{"stream_type": {"admin_logs_streaming"}, "event_type": {"LOGIN,FAILED_LOGIN"}}},
		{name: "event types ignored for user streams", q: EventsQuery{StreamType: StreamSync, EventTypes: []string{"ITEM_UPLOAD"}, CreatedAfter: after},
			want: url.Values{"stream_type": {"sync"}}},
		{name: "dates for admin_logs", q: EventsQuery{StreamType: StreamAdminLogs, CreatedAfter: after, CreatedBefore: before},
			want: url.Values{"stream_type": {"admin_logs"}, "created_after": {"2012-12-12T10:53:43-08:00"}, "created_before": {"2012-12-13T00:00:00+00:00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, []byte(`{"entries":[]}`))
			})
			_, err := h.client.Events(context.Background(), tt.q)
			require.NoError(t, err)
			got, err := url.ParseQuery(h.requests()[0].RawQuery)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("plus is escaped", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(t, w, http.StatusOK, []byte(`{"entries":[]}`))
		})
		_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAdminLogs, CreatedAfter: before})
		require.NoError(t, err)
		require.Contains(t, h.requests()[0].RawQuery, "created_after=2012-12-13T00%3A00%3A00%2B00%3A00")
	})

	t.Run("unknown stream type", func(t *testing.T) {
		h := setup(t, func(http.ResponseWriter, *http.Request) {})
		_, err := h.client.Events(context.Background(), EventsQuery{StreamType: "everything"})
		require.ErrorContains(t, err, `unknown stream type "everything"`)
		require.Empty(t, h.requests())
	})
}

func TestClient_Events429RetryAfter(t *testing.T) {
	var n atomic.Int32
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "7")
			writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
			return
		}
		writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
	})

	done := async(func() (*Page, error) {
		return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "1152922976252290817", Limit: 500})
	})
	require.Equal(t, 7*time.Second, h.nextWait(t), "Retry-After is honoured")
	require.Len(t, h.requests(), 1, "nothing is sent while waiting")
	h.clock.Add(7 * time.Second)

	page, err := await(t, done)
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	reqs := h.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		q, err := url.ParseQuery(r.RawQuery)
		require.NoError(t, err)
		require.Equal(t, "1152922976252290817", q.Get("stream_position"), "the retry resends the original position")
	}
	h.noWaits(t)
}

func TestClient_Events429RetryAfterDate(t *testing.T) {
	var n atomic.Int32
	h := setup(t, nil)
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	h.clock.Set(start)
	h.handle(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Date", start.Format(http.TimeFormat)) // the server's clock: the date is read against it
			w.Header().Set("Retry-After", start.Add(30*time.Second).Format(http.TimeFormat))
			writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
			return
		}
		writeJSON(t, w, http.StatusOK, []byte(`{"entries":[]}`))
	})

	done := async(func() (*Page, error) { return h.client.Events(context.Background(), EventsQuery{}) })
	require.Equal(t, 30*time.Second, h.nextWait(t))
	h.clock.Add(30 * time.Second)
	_, err := await(t, done)
	require.NoError(t, err)
	require.Equal(t, int32(2), n.Load())
}

func TestClient_Events429TooLong(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
	})
	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "5"})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, time.Hour, apiErr.RetryAfter, "the caller learns how long to wait")
	require.True(t, IsRetryable(err))
	require.Len(t, h.requests(), 1)
	h.noWaits(t)
}

func TestClient_Events5xxBackoff(t *testing.T) {
	var n atomic.Int32
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1:
			writeJSON(t, w, http.StatusInternalServerError,
				[]byte(`{"type":"error","status":500,"code":"internal_server_error","message":"Internal Server Error","request_id":"r1"}`))
		case 2:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			writeBody(t, w, []byte("<html>bad gateway</html>"))
		default:
			writeJSON(t, w, http.StatusOK, readTestdata(t, "events_enterprise_page.json"))
		}
	})

	done := async(func() (*Page, error) {
		return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAdminLogsStreaming, StreamPosition: "77"})
	})
	require.Equal(t, time.Second, h.nextWait(t))
	h.clock.Add(time.Second)
	require.Equal(t, 2*time.Second, h.nextWait(t))
	h.clock.Add(2 * time.Second)

	page, err := await(t, done)
	require.NoError(t, err)
	require.Equal(t, StreamPosition("30000000000000001234567"), page.NextStreamPosition)
	for _, r := range h.requests() {
		require.Contains(t, r.RawQuery, "stream_position=77")
	}
}

func TestClient_Events5xxGiveUp(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		writeBody(t, w, readTestdata(t, "error_503.html"))
	}, func(c *Config) { c.MaxAttempts = 3 })

	done := async(func() (*Page, error) {
		return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "123"})
	})
	require.Equal(t, time.Second, h.nextWait(t))
	h.clock.Add(time.Second)
	require.Equal(t, 2*time.Second, h.nextWait(t))
	h.clock.Add(2 * time.Second)

	_, err := await(t, done)
	require.EqualError(t, err, "giving up after 3 attempts: GET /2.0/events (stream_type=all, stream_position=123): "+
		"503 service unavailable: non-JSON error body (text/html)")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
	require.True(t, IsRetryable(err), "the caller may try again later")
	require.Len(t, h.requests(), 3)
	h.noWaits(t)
}

func TestClient_Events501NotRetried(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotImplemented)
	})
	_, err := h.client.Events(context.Background(), EventsQuery{})
	require.EqualError(t, err, "GET /2.0/events: 501 not implemented")
	require.False(t, IsRetryable(err))
	require.Len(t, h.requests(), 1)
}

func TestClient_EventsNetworkReset(t *testing.T) {
	var n atomic.Int32
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			resetConnection(t, w)
			return
		}
		writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
	})
	done := async(func() (*Page, error) {
		return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
	})
	require.Equal(t, time.Second, h.nextWait(t))
	h.clock.Add(time.Second)
	page, err := await(t, done)
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	require.Equal(t, int32(2), n.Load())
}

func TestClient_EventsNetworkGiveUp(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) { resetConnection(t, w) },
		func(c *Config) { c.MaxAttempts = 1 })
	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
	require.Error(t, err)
	require.True(t, IsRetryable(err))
	require.True(t, strings.HasPrefix(err.Error(), "giving up after 1 attempt: GET /2.0/events (stream_type=all, stream_position=42): "), err.Error())
	require.NotContains(t, err.Error(), h.srv.URL, "no URL from *url.Error")
}

func TestClient_EventsTruncated(t *testing.T) {
	full := readTestdata(t, "events_user_page.json")
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{name: "short content-length", write: func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(len(full)))
			w.WriteHeader(http.StatusOK)
			writeBody(t, w, full[:len(full)/2])
		}},
		{name: "incomplete JSON", write: func(w http.ResponseWriter) {
			writeJSON(t, w, http.StatusOK, full[:len(full)/2])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1) == 1 {
					tt.write(w)
					return
				}
				writeJSON(t, w, http.StatusOK, full)
			})
			done := async(func() (*Page, error) {
				return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
			})
			require.Equal(t, time.Second, h.nextWait(t))
			h.clock.Add(time.Second)
			page, err := await(t, done)
			require.NoError(t, err)
			require.Len(t, page.Entries, 2)
		})
	}

	t.Run("give up", func(t *testing.T) {
		h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(t, w, http.StatusOK, full[:100])
		}, func(c *Config) { c.MaxAttempts = 1 })
		_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
		var decErr *DecodeError
		require.ErrorAs(t, err, &decErr)
		require.True(t, decErr.Retryable())
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		require.Equal(t, "/2.0/events", decErr.URL)
		require.EqualError(t, err, "giving up after 1 attempt: GET /2.0/events (stream_type=all, stream_position=42): "+
			"decoding response: entries[0]: unexpected EOF")
	})
}

func TestClient_EventsMalformed(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantErr     string
	}{
		{name: "html", contentType: "text/html; charset=UTF-8", body: "<html><body>Sign in to the proxy</body></html>",
			wantErr: "GET /2.0/events (stream_type=all, stream_position=5): decoding response: " +
				"non-JSON body (text/html): invalid character '<' looking for beginning of value"},
		{name: "not an object", contentType: "application/json", body: `"hello"`,
			wantErr: "GET /2.0/events (stream_type=all, stream_position=5): decoding response: events page: want a JSON object, got a string"},
		{name: "bad position", contentType: "application/json", body: `{"next_stream_position":[1]}`,
			wantErr: "GET /2.0/events (stream_type=all, stream_position=5): decoding response: " +
				"next_stream_position: stream position: want a JSON string or number, got an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				writeBody(t, w, []byte(tt.body))
			})
			_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "5"})
			require.EqualError(t, err, tt.wantErr)
			var decErr *DecodeError
			require.ErrorAs(t, err, &decErr)
			require.False(t, IsRetryable(err))
			require.Len(t, h.requests(), 1, "malformed bodies are not retried")
		})
	}
}

func TestClient_EventsOversized(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
	}, func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "5"})
	require.ErrorContains(t, err, "GET /2.0/events (stream_type=all, stream_position=5): decoding response: ")
	require.ErrorContains(t, err, "response body exceeds 1 KiB")
	var decErr *DecodeError
	require.ErrorAs(t, err, &decErr)
	require.False(t, IsRetryable(err))
	// Asked again from the same position for fewer events each time, down to one.
	limits := requestedLimits(t, h.requests(), "5")
	require.Equal(t, []string{"", "50", "25", "12", "6", "3", "1"}, limits)
}

// A page above the body bound is asked again with half the limit, from the same position, and
// the smaller page that fits is the answer.
func TestClient_EventsOversizedPageAskedAgainSmaller(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("limit") != "125" {
			writeJSON(t, w, http.StatusOK, []byte(`{"chunk_size":0,"next_stream_position":"9","entries":[],"pad":"`+strings.Repeat("x", 4<<10)+`"}`))
			return
		}
		writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
	}, func(c *Config) { c.MaxBodyBytes = 3 << 10 })
	page, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "5", Limit: 500})
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	require.Equal(t, 125, page.Limit, "full at 125 entries")
	limits := requestedLimits(t, h.requests(), "5")
	require.Equal(t, []string{"500", "250", "125"}, limits)
}

func TestClient_EventsErrorBody(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, http.StatusBadRequest, readTestdata(t, "error_400_stream_position.json"))
	})
	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "12x"})
	require.EqualError(t, err, "GET /2.0/events (stream_type=all, stream_position=12x): 400 bad_request: Bad Request (request_id 8f7a6b5c4d3e)")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.MethodGet, apiErr.Method)
	require.Equal(t, "/2.0/events", apiErr.URL)
	require.Equal(t, "bad_request", apiErr.Code)
	require.Equal(t, "http://developers.box.com/docs/#errors", apiErr.HelpURL)
	require.Contains(t, string(apiErr.ContextInfo), `"name":"stream_position"`)
	require.True(t, IsPositionRejected(err))
	require.False(t, IsRetryable(err))
	require.Len(t, h.requests(), 1)
}

// TestIsPositionRejected covers the wordings Box uses for an unusable stream position: the
// parameter name (in code, message or context_info), and the "Invalid stream position" message
// that Box really answers for an expired or unknown position (elastic/integrations#18413).
func TestIsPositionRejected(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "parameter in context_info", err: &APIError{StatusCode: 400, Code: "bad_request", Message: "Bad Request",
			ContextInfo: []byte(`{"errors":[{"name":"stream_position"}]}`)}, want: true},
		{name: "parameter in message", err: &APIError{StatusCode: 400, Message: "stream_position is invalid"}, want: true},
		{name: "parameter in code", err: &APIError{StatusCode: 400, Code: "invalid_stream_position"}, want: true},
		{name: "words in message", err: &APIError{StatusCode: 400, Code: "bad_request", Message: "Invalid stream position"}, want: true},
		{name: "words, other case", err: &APIError{StatusCode: 400, Message: "STREAM POSITION expired"}, want: true},
		{name: "words in context_info", err: &APIError{StatusCode: 400, ContextInfo: []byte(`{"reason":"unknown Stream Position"}`)}, want: true},
		{name: "wrapped", err: fmt.Errorf("page: %w", &APIError{StatusCode: 400, Message: "Invalid stream position"}), want: true},
		{name: "other 400", err: &APIError{StatusCode: 400, Code: "bad_request", Message: "Bad Request"}},
		{name: "not a 400", err: &APIError{StatusCode: 404, Message: "Invalid stream position"}},
		{name: "words split", err: &APIError{StatusCode: 400, Message: "stream at position 5"}},
		{name: "not an APIError", err: errors.New("invalid stream position")},
		{name: "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, IsPositionRejected(tt.err))
		})
	}
}

// TestClient_EventsInvalidStreamPosition is Box's answer to an expired or unknown position:
// code bad_request and the message "Invalid stream position", with no stream_position token.
func TestClient_EventsInvalidStreamPosition(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, http.StatusBadRequest, readTestdata(t, "error_400_invalid_stream_position.json"))
	})
	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "1152922976252290886"})
	require.EqualError(t, err, "GET /2.0/events (stream_type=all, stream_position=1152922976252290886): "+
		"400 bad_request: Invalid stream position (request_id 0a1b2c3d4e5f6a7b)")
	require.True(t, IsPositionRejected(err))
	require.False(t, IsRetryable(err))
	require.Len(t, h.requests(), 1)
}

func TestClient_EventsErrorBodies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   string
	}{
		{name: "429 json", status: 404, body: `{"type":"error","status":404,"code":"not_found","message":"Not Found.","request_id":"x1"}`,
			want: "GET /2.0/events: 404 not_found: Not Found (request_id x1)"},
		{name: "empty body with request id header", status: 403, header: http.Header{"Box-Request-Id": {"hdr-7"}},
			want: "GET /2.0/events: 403 forbidden (request_id hdr-7)"},
		{name: "malformed json", status: 404, body: `{"code": "not_fo`, want: "GET /2.0/events: 404 not found: malformed JSON error body"},
		{name: "plain text", status: 404, header: http.Header{"Content-Type": {"text/plain"}}, body: "no such thing",
			want: "GET /2.0/events: 404 not found: non-JSON error body (text/plain)"},
		{name: "numbers for strings", status: 409, body: `{"code": 17, "message": "line1\nline2", "request_id": 99}`,
			want: "GET /2.0/events: 409 17: line1 line2 (request_id 99)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				writeBody(t, w, []byte(tt.body))
			})
			_, err := h.client.Events(context.Background(), EventsQuery{})
			require.EqualError(t, err, tt.want)
			require.False(t, IsPositionRejected(err))
		})
	}
}

func TestClient_Events401Refresh(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer expired-token" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
	})
	h.auth.tokens = []string{"expired-token", testToken}

	page, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
	require.NoError(t, err)
	require.Len(t, page.Entries, 2)
	require.Equal(t, []string{"expired-token"}, h.auth.Invalidated())
	reqs := h.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "Bearer "+testToken, reqs[1].Header.Get("Authorization"))
	require.Equal(t, reqs[0].RawQuery, reqs[1].RawQuery)
	h.noWaits(t)
}

func TestClient_Events401Twice(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	h.auth.tokens = []string{"first-token", testToken}

	_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAdminLogs, StreamPosition: "42"})
	require.EqualError(t, err, "box authentication failed: GET /2.0/events (stream_type=admin_logs, stream_position=42): 401 unauthorized")
	require.True(t, IsAuth(err))
	require.False(t, IsRetryable(err))
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.Equal(t, []string{"first-token", testToken}, h.auth.Invalidated())
	require.Len(t, h.requests(), 2)
}

func TestClient_EventsTokenError(t *testing.T) {
	h := setup(t, func(http.ResponseWriter, *http.Request) {})
	cause := errors.New("token endpoint: 400 invalid_grant")
	h.auth.err = cause

	_, err := h.client.Events(context.Background(), EventsQuery{})
	require.EqualError(t, err, "getting a box access token: token endpoint: 400 invalid_grant")
	require.True(t, IsAuth(err))
	require.ErrorIs(t, err, cause)
	require.Empty(t, h.requests())

	// A token error after a 401 is an AuthError too.
	h2 := setup(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	h2.auth.tokens = []string{"old"}
	h2.client.auth = &failSecond{fakeAuth: h2.auth, err: cause}
	_, err = h2.client.Events(context.Background(), EventsQuery{})
	require.True(t, IsAuth(err))
	require.ErrorIs(t, err, cause)
}

// failSecond hands out one token, then fails.
type failSecond struct {
	*fakeAuth
	err error
	n   atomic.Int32
}

func (a *failSecond) Token(ctx context.Context) (string, error) {
	if a.n.Add(1) > 1 {
		return "", a.err
	}
	return a.fakeAuth.Token(ctx)
}

func TestClient_EventsCancelWhileWaiting(t *testing.T) {
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := async(func() (*Page, error) { return h.client.Events(ctx, EventsQuery{}) })
	require.Equal(t, time.Second, h.nextWait(t))
	cancel()
	_, err := await(t, done)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, h.requests(), 1)
}

func TestClient_EventsRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	var n atomic.Int32
	h := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		writeJSON(t, w, http.StatusOK, []byte(`{"entries":[]}`))
	}, func(c *Config) { c.RequestTimeout = 30 * time.Second })
	t.Cleanup(func() { close(release) })

	done := async(func() (*Page, error) { return h.client.Events(context.Background(), EventsQuery{}) })
	<-arrived
	h.clock.Add(30 * time.Second) // the request deadline fires
	require.Equal(t, time.Second, h.nextWait(t), "a timed-out request is retried")
	h.clock.Add(time.Second)
	_, err := await(t, done)
	require.NoError(t, err)
}

func TestClient_Secrets(t *testing.T) {
	const channel = "SECRETCHANNEL0123"
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness) error
	}{
		{name: "5xx give up", run: func(_ *testing.T, h *harness) error {
			h.handle(func(w http.ResponseWriter, r *http.Request) {
				// Echo the Authorization header, as a misbehaving proxy might.
				http.Error(w, r.Header.Get("Authorization"), http.StatusInternalServerError)
			})
			h.client.maxAttempts = 1
			_, err := h.client.Events(context.Background(), EventsQuery{})
			return err
		}},
		{name: "401 twice", run: func(t *testing.T, h *harness) error {
			h.handle(func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusUnauthorized, []byte(`{"type":"error","status":401,"code":"unauthorized","message":"Unauthorized"}`))
			})
			_, err := h.client.RealtimeServer(context.Background(), StreamAll)
			return err
		}},
		{name: "long poll error status", run: func(_ *testing.T, h *harness) error {
			h.handle(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
			})
			_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/subscribe?channel=" + channel}, "1")
			return err
		}},
		{name: "long poll network error", run: func(t *testing.T, h *harness) error {
			h.handle(func(w http.ResponseWriter, _ *http.Request) { resetConnection(t, w) })
			_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/subscribe?channel=" + channel}, "1")
			return err
		}},
		{name: "long poll malformed", run: func(t *testing.T, h *harness) error {
			h.handle(func(w http.ResponseWriter, _ *http.Request) {
				writeBody(t, w, []byte("{nope"))
			})
			_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: h.srv.URL + "/subscribe?channel=" + channel}, "1")
			return err
		}},
		{name: "long poll invalid url", run: func(_ *testing.T, h *harness) error {
			_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: "ftp://x/subscribe?channel=" + channel}, "1")
			return err
		}},
		{name: "realtime server printed", run: func(*testing.T, *harness) error {
			return errors.New(RealtimeServer{URL: "https://2.realtime.services.box.net/subscribe?channel=" + channel, TTL: 10}.String())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, nil)
			err := tt.run(t, h)
			require.Error(t, err)
			msg := err.Error()
			t.Log(msg)
			require.NotContains(t, msg, testToken)
			require.NotContains(t, msg, "Bearer")
			require.NotContains(t, msg, channel)
			require.NotContains(t, msg, "channel=")
		})
	}
}

// A page given back with Recycle lends its entries' room to a later page: that page has only
// its own events (nothing of the recycled page shows through), strings taken from the recycled
// page stay as they were, and what the pool keeps is cleared and bounded.
func TestClient_RecycleEntries(t *testing.T) {
	big := readTestdata(t, "events_enterprise_page.json")
	small := []byte(`{"chunk_size":1,"next_stream_position":"9","entries":[{"type":"event","event_id":"only"}]}`)
	body := big
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(t, w, http.StatusOK, body) })
	q := EventsQuery{StreamType: StreamAdminLogsStreaming, StreamPosition: "0", Limit: 10}

	first, err := h.client.Events(context.Background(), q)
	require.NoError(t, err)
	require.Greater(t, len(first.Entries), 1)
	// Strings taken from the events, as the plugin's metrics take them, and copies of them.
	var kept, want []string
	for _, ev := range first.Entries {
		for _, s := range []string{ev.EventID, ev.CreatedBy.Login, ev.Source.Name, ev.AdditionalDetails} {
			kept = append(kept, s)
			want = append(want, strings.Clone(s))
		}
	}
	room := &first.Entries[0]
	h.client.Recycle(first)
	require.Nil(t, first.Entries)

	body = small
	second, err := h.client.Events(context.Background(), q)
	require.NoError(t, err)
	require.Len(t, second.Entries, 1)
	require.Same(t, room, &second.Entries[0], "the recycled room is reused")
	require.Equal(t, Event{Type: "event", EventID: "only"}, second.Entries[0])
	require.Equal(t, want, kept, "the recycled page's text is its own, never reused")

	// What the pool keeps holds nothing of the pages it came from, and is bounded.
	h.client.Recycle(second)
	for range maxScratch + 2 {
		h.client.Recycle(&Page{Entries: []Event{{EventID: "x", JSON: "{}"}}})
	}
	pool := &h.client.scratch
	require.Len(t, pool.events, maxScratch)
	for _, events := range pool.events {
		require.Empty(t, events)
		for _, ev := range events[:cap(events)] {
			require.Equal(t, Event{}, ev)
		}
	}
	pool.events = nil
	h.client.Recycle(&Page{Entries: make([]Event, 1, maxPooledSpans+1)})
	h.client.Recycle(nil)
	h.client.Recycle(&Page{})
	require.Empty(t, pool.events, "outsized or empty entries are not kept")
}

// A page's text given back with RecycleText is where a later page's strings are decoded; text
// not given back is never reused. The pool keeps at most maxPooledTexts, none outsized.
func TestClient_RecycleText(t *testing.T) {
	body := readTestdata(t, "events_enterprise_page.json")
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(t, w, http.StatusOK, body) })
	q := EventsQuery{StreamType: StreamAdminLogsStreaming, StreamPosition: "0", Limit: 10}
	// Whether two slices share their storage.
	same := func(a, b []byte) bool { return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0] }

	first, err := h.client.Events(context.Background(), q)
	require.NoError(t, err)
	id := first.Entries[0].EventID
	want := strings.Clone(id)
	text := first.TakeText()
	require.Contains(t, string(text.b), id, "the strings are the page's text")
	require.Empty(t, first.TakeText().b, "taken once")

	second, err := h.client.Events(context.Background(), q)
	require.NoError(t, err)
	require.False(t, same(second.TakeText().b, text.b), "text not given back is not reused")
	require.Equal(t, want, id)

	h.client.RecycleText(text)
	third, err := h.client.Events(context.Background(), q)
	require.NoError(t, err)
	require.True(t, same(third.TakeText().b, text.b), "the text given back holds the next page's strings")
	require.Equal(t, want, third.Entries[0].EventID)

	pool := &h.client.scratch
	for range maxPooledTexts + 2 {
		h.client.RecycleText(PageText{b: make([]byte, 10)})
	}
	require.Len(t, pool.texts, maxPooledTexts)
	pool.texts = nil
	h.client.RecycleText(PageText{b: make([]byte, 0, maxPooledBody+1)})
	h.client.RecycleText(PageText{})
	require.Empty(t, pool.texts, "outsized or empty text is not kept")
}

// Ahead hears a page's next position and size before its entries decode, when Box gives them
// first: a caller can ask for the next page meanwhile. The page returned is what counts.
func TestEvents_Ahead(t *testing.T) {
	type heard struct {
		next StreamPosition
		size int
	}
	tests := []struct {
		name    string
		body    string
		want    []heard
		wantErr bool
	}{
		{name: "Box's order", body: `{"chunk_size":1,"next_stream_position":"123","entries":[{"event_id":"a"}]}`,
			want: []heard{{"123", 1}}},
		{name: "a number", body: `{"next_stream_position":1152922976252290886,"chunk_size":2,"entries":[{},{}]}`,
			want: []heard{{"1152922976252290886", 2}}},
		{name: "heard before entries that turn out malformed", body: `{"chunk_size":2,"next_stream_position":"9","entries":[{"event_id":"a"},x]}`,
			want: []heard{{"9", 2}}, wantErr: true},
		{name: "position after the entries", body: `{"chunk_size":1,"entries":[{"event_id":"a"}],"next_stream_position":"123"}`},
		{name: "no chunk_size", body: `{"next_stream_position":"123","entries":[]}`},
		{name: "chunk_size not an integer", body: `{"chunk_size":"x","next_stream_position":"123","entries":[]}`},
		{name: "null position", body: `{"chunk_size":0,"next_stream_position":null,"entries":[]}`},
		{name: "entries twice: heard once", body: `{"chunk_size":0,"next_stream_position":"5","entries":[],"entries":[]}`,
			want: []heard{{"5", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) { writeBody(t, w, []byte(tt.body)) })
			var got []heard
			_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "0",
				Ahead: func(next StreamPosition, size int) { got = append(got, heard{next, size}) }})
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestIsForbidden(t *testing.T) {
	require.True(t, IsForbidden(&APIError{StatusCode: 403, Code: "forbidden", Message: "Forbidden"}))
	require.True(t, IsForbidden(fmt.Errorf("page: %w", &APIError{StatusCode: 403})))
	require.False(t, IsForbidden(&APIError{StatusCode: 401}))
	require.False(t, IsForbidden(errors.New("403 forbidden")))
	require.False(t, IsForbidden(nil))
}

// requestedLimits returns the limit of each request, which must all ask from position.
func requestedLimits(t *testing.T, requests []recorded, position string) []string {
	t.Helper()
	limits := make([]string, 0, len(requests))
	for _, r := range requests {
		q, err := url.ParseQuery(r.RawQuery)
		require.NoError(t, err)
		require.Equal(t, position, q.Get("stream_position"))
		limits = append(limits, q.Get("limit"))
	}
	return limits
}
