package boxevents

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// observed records what an Observer heard.
type observed struct {
	mu         sync.Mutex
	requests   []Request
	reconnects []string
	rejected   int
}

func (o *observed) observer() Observer {
	return Observer{
		Request: func(r Request) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.requests = append(o.requests, r)
		},
		LongPollReconnect: func(msg string) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.reconnects = append(o.reconnects, msg)
		},
		PositionRejected: func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.rejected++
		},
	}
}

func (o *observed) outcomes() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.requests))
	for _, r := range o.requests {
		out = append(out, r.Kind.String()+":"+r.Outcome.String())
	}
	return out
}

func withObserver(o *observed) func(*Config) {
	return func(c *Config) { c.Observer = o.observer() }
}

func TestClient_ObserverRetries(t *testing.T) {
	var n atomic.Int32
	obs := &observed{}
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1: // first: on a reused connection net/http would resend the request itself
			resetConnection(t, w)
		case 2:
			w.Header().Set("Retry-After", "7")
			writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
		case 3:
			writeJSON(t, w, http.StatusServiceUnavailable, []byte(`{"type":"error","status":503}`))
		default:
			writeJSON(t, w, http.StatusOK, readTestdata(t, "events_user_page.json"))
		}
	}, withObserver(obs))

	done := async(func() (*Page, error) {
		return h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
	})
	for range 3 {
		h.clock.Add(h.nextWait(t))
	}
	_, err := await(t, done)
	require.NoError(t, err)
	require.Equal(t, []string{"events:network", "events:rate_limited", "events:5xx", "events:ok"}, obs.outcomes())
	require.Equal(t, 7*time.Second, obs.requests[1].RetryAfter)
	require.Zero(t, obs.rejected)
}

func TestClient_ObserverErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     []string
		rejected int
	}{
		{name: "position rejected", status: http.StatusBadRequest, body: string(readTestdata(t, "error_400_invalid_stream_position.json")),
			want: []string{"events:4xx"}, rejected: 1},
		{name: "not found", status: http.StatusNotFound, body: `{"type":"error","status":404,"code":"not_found"}`,
			want: []string{"events:4xx"}},
		{name: "malformed", status: http.StatusOK, body: `"hello"`, want: []string{"events:decode"}},
		{name: "unauthorized twice", status: http.StatusUnauthorized, body: `{}`, want: []string{"events:4xx", "events:4xx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &observed{}
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, tt.status, []byte(tt.body))
			}, withObserver(obs))
			_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
			require.Error(t, err)
			require.Equal(t, tt.want, obs.outcomes())
			require.Equal(t, tt.rejected, obs.rejected)
		})
	}
}

func TestClient_ObserverLongPoll(t *testing.T) {
	for _, msg := range []string{MessageNewChange, MessageReconnect, MessageMaxRetries} {
		t.Run(msg, func(t *testing.T) {
			obs := &observed{}
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(t, w, http.StatusOK, []byte(`{"message":"`+msg+`"}`))
			}, withObserver(obs))
			srv := RealtimeServer{URL: h.srv.URL + "/subscribe?channel=abc", RetryTimeout: 610}
			got, err := h.client.LongPoll(context.Background(), srv, "42")
			require.NoError(t, err)
			require.Equal(t, msg, got)
			require.Equal(t, []string{"long_poll:ok"}, obs.outcomes())
			if msg == MessageNewChange {
				require.Empty(t, obs.reconnects)
			} else {
				require.Equal(t, []string{msg}, obs.reconnects)
			}
		})
	}
}

func TestClient_ObserverRealtimeServer(t *testing.T) {
	obs := &observed{}
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, http.StatusOK, readTestdata(t, "realtime_servers.json"))
	}, withObserver(obs))
	_, err := h.client.RealtimeServer(context.Background(), StreamAll)
	require.NoError(t, err)
	require.Equal(t, []string{"realtime_server:ok"}, obs.outcomes())
}

func TestClient_ObserverCancelled(t *testing.T) {
	obs := &observed{}
	h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
	}, withObserver(obs))
	ctx, cancel := context.WithCancel(context.Background())
	done := async(func() (*Page, error) {
		return h.client.Events(ctx, EventsQuery{StreamType: StreamAll, StreamPosition: "42"})
	})
	h.nextWait(t)
	cancel()
	_, err := await(t, done)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"events:rate_limited"}, obs.outcomes(), "the wait cut short is no request")
}
