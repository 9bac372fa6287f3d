package boxevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{attempt: 1, jitter: 1, want: time.Second},
		{attempt: 2, jitter: 1, want: 2 * time.Second},
		{attempt: 3, jitter: 1, want: 4 * time.Second},
		{attempt: 4, jitter: 1, want: 8 * time.Second},
		{attempt: 6, jitter: 1, want: 32 * time.Second},
		{attempt: 7, jitter: 1, want: 60 * time.Second},
		{attempt: 1, jitter: 0.5, want: 500 * time.Millisecond},
		{attempt: 1, jitter: 1.5, want: 1500 * time.Millisecond},
		{attempt: 3, jitter: 0.75, want: 3 * time.Second},
		{attempt: 6, jitter: 1.5, want: 48 * time.Second},
		{attempt: 7, jitter: 0.5, want: 32 * time.Second},
		{attempt: 8, jitter: 0.5, want: 60 * time.Second},
		{attempt: 1000, jitter: 1.5, want: 60 * time.Second},
		{attempt: 0, jitter: 1, want: time.Second},
		{attempt: -3, jitter: 1, want: time.Second},
		{attempt: 1, jitter: 0, want: 500 * time.Millisecond},
		{attempt: 1, jitter: 9, want: 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, backoff(tt.attempt, tt.jitter), "attempt %d jitter %v", tt.attempt, tt.jitter)
	}
}

func TestRetryWait(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		attempt int
		want    time.Duration
		wantOK  bool
	}{
		{name: "retry-after wins", err: &APIError{StatusCode: 429, RetryAfter: 7 * time.Second}, attempt: 3, want: 7 * time.Second, wantOK: true},
		{name: "429 without header backs off", err: &APIError{StatusCode: 429}, attempt: 3, want: 4 * time.Second, wantOK: true},
		{name: "503 with header", err: &APIError{StatusCode: 503, RetryAfter: 2 * time.Second}, attempt: 1, want: 2 * time.Second, wantOK: true},
		{name: "network error backs off", err: errors.New("reset"), attempt: 2, want: 2 * time.Second, wantOK: true},
		{name: "too long a retry-after", err: &APIError{StatusCode: 429, RetryAfter: time.Hour}, attempt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retryWait(tt.err, tt.attempt, 1)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil},
		{name: "429", err: &APIError{StatusCode: 429}, want: true},
		{name: "500", err: &APIError{StatusCode: 500}, want: true},
		{name: "503 wrapped", err: errorsJoin(&APIError{StatusCode: 503}), want: true},
		{name: "501", err: &APIError{StatusCode: 501}},
		{name: "400", err: &APIError{StatusCode: 400}},
		{name: "404", err: &APIError{StatusCode: 404}},
		{name: "truncated", err: &DecodeError{Err: fmt.Errorf("entries[3]: %w", io.ErrUnexpectedEOF)}, want: true},
		{name: "malformed", err: &DecodeError{Err: errors.New("invalid character")}},
		{name: "network", err: &requestError{call: "GET /", err: errors.New("connection reset by peer")}, want: true},
		{name: "auth", err: &AuthError{Err: &APIError{StatusCode: 500}}},
		{name: "plain", err: errors.New("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, IsRetryable(tt.err))
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }

func TestRetryAfter(t *testing.T) {
	require.Equal(t, 30*time.Minute, RetryAfter(&APIError{StatusCode: 429, RetryAfter: 30 * time.Minute}))
	require.Equal(t, 30*time.Minute, RetryAfter(fmt.Errorf("giving up: %w", &APIError{StatusCode: 503, RetryAfter: 30 * time.Minute})))
	require.Zero(t, RetryAfter(&APIError{StatusCode: 429}))
	require.Zero(t, RetryAfter(errors.New("reset")))
	require.Zero(t, RetryAfter(nil))
}

// TestClient_EventsRetryAfterBeyondRequest: a Retry-After longer than a request waits itself
// comes back to the caller, who reads it with RetryAfter, in both header forms.
func TestClient_EventsRetryAfterBeyondRequest(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
	}{
		{name: "seconds", header: "1800"},
		{name: "http date", header: start.Add(30 * time.Minute).Format(http.TimeFormat)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Date", start.Format(http.TimeFormat)) // the server's clock: a date is read against it
				w.Header().Set("Retry-After", tt.header)
				writeJSON(t, w, http.StatusTooManyRequests, readTestdata(t, "error_429.json"))
			})
			h.clock.Set(start)
			_, err := h.client.Events(context.Background(), EventsQuery{StreamType: StreamAdminLogsStreaming, StreamPosition: "5"})
			require.Error(t, err)
			require.Equal(t, 30*time.Minute, RetryAfter(err))
			require.True(t, IsRetryable(err))
			require.Len(t, h.requests(), 1, "the request does not wait half an hour itself")
			h.noWaits(t)
		})
	}
}
