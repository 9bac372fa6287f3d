package retryafter

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{name: "seconds", in: "7", want: 7 * time.Second, wantOK: true},
		{name: "zero", in: "0", want: 0, wantOK: true},
		{name: "spaces", in: " 12 ", want: 12 * time.Second, wantOK: true},
		{name: "huge seconds", in: "99999999999999999999999", want: 24 * time.Hour, wantOK: true},
		{name: "http date", in: now.Add(30 * time.Second).Format(http.TimeFormat), want: 30 * time.Second, wantOK: true},
		{name: "rfc 850 date", in: now.Add(time.Minute).Format(time.RFC850), want: time.Minute, wantOK: true},
		{name: "asctime date", in: now.Add(2 * time.Second).Format(time.ANSIC), want: 2 * time.Second, wantOK: true},
		{name: "date in the past", in: now.Add(-time.Hour).Format(http.TimeFormat), want: 0, wantOK: true},
		{name: "empty", in: ""},
		{name: "negative", in: "-5"},
		{name: "fraction", in: "1.5"},
		{name: "garbage", in: "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Parse(tt.in, now)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestOfResponse(t *testing.T) {
	box := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	local := box.Add(-10 * time.Minute) // a host clock ten minutes behind the server's
	header := func(retryAfter, date string) http.Header {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		if date != "" {
			h.Set("Date", date)
		}
		return h
	}
	in2s := box.Add(2 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name   string
		h      http.Header
		local  time.Time
		want   time.Duration
		wantOK bool
	}{
		{name: "date against the answer's Date", h: header(in2s, box.Format(http.TimeFormat)), local: local, want: 2 * time.Second, wantOK: true},
		{name: "date against local without Date", h: header(in2s, ""), local: local, want: 10*time.Minute + 2*time.Second, wantOK: true},
		{name: "date not read without Date or local", h: header(in2s, "")},
		{name: "seconds need no clock", h: header("3", ""), want: 3 * time.Second, wantOK: true},
		{name: "unreadable Date falls back to local", h: header(in2s, "yesterday"), local: local, want: 10*time.Minute + 2*time.Second, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := OfResponse(tt.h, tt.local)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, d)
		})
	}
}
