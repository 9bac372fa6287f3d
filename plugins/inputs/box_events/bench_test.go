package box_events

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// staticToken is an authenticator with one token.
type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string)                       {}

// BenchmarkPageToMetrics measures the hot path of the plugin: one full
// 500-event enterprise page fetched over loopback HTTP, stream-decoded and
// turned into metrics. Events/s and allocs/event are reported.
func BenchmarkPageToMetrics(b *testing.B) {
	sim := boxsim.NewTest(b, boxsim.Options{Seed: 99, PositionFormat: boxsim.PositionNumber})
	sim.EmitEnterprise(500)
	req, err := http.NewRequest(http.MethodGet, sim.URL()+"/2.0/events?stream_type=admin_logs&stream_position=0&limit=500", nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+sim.IssueToken(boxsim.SubjectEnterprise))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	require.NoError(b, resp.Body.Close())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write(body); err != nil {
			b.Error(err)
		}
	}))
	b.Cleanup(srv.Close)
	client, err := boxevents.New(boxevents.Config{BaseURL: srv.URL, HTTPClient: &http.Client{}, Auth: staticToken("t")})
	require.NoError(b, err)
	q := boxevents.EventsQuery{StreamType: boxevents.StreamAdminLogs, StreamPosition: "0", Limit: 500}
	now := time.Now()
	in := newInterner() // the reader keeps one for the life of the stream

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	var sink telegraf.Metric
	for b.Loop() {
		page, err := client.Events(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		for i := range page.Entries {
			sink = toMetric(&page.Entries[i], now, in)
		}
		events += len(page.Entries)
		client.Recycle(page) // as the reader does
	}
	_ = sink
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		page, err := client.Events(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		for i := range page.Entries {
			sink = toMetric(&page.Entries[i], now, in)
		}
		client.Recycle(page)
	}))/500, "allocs/event")
	if events == 0 {
		b.Fatal("no events decoded")
	}
}

// BenchmarkDetails measures the walk of additional_details alone (addDetails), over the events
// of a simulated 500-event enterprise page; bytes are those of the details texts.
func BenchmarkDetails(b *testing.B) {
	sim := boxsim.NewTest(b, boxsim.Options{Seed: 7})
	sim.EmitBacklog(boxsim.StreamAdminLogsStreaming, 500, 0)
	client, err := boxevents.New(boxevents.Config{BaseURL: sim.URL(), HTTPClient: &http.Client{},
		Auth: staticToken(sim.IssueToken(boxsim.SubjectEnterprise))})
	require.NoError(b, err)
	page, err := client.Events(context.Background(), boxevents.EventsQuery{
		StreamType: boxevents.StreamAdminLogsStreaming, StreamPosition: "0", Limit: 500})
	require.NoError(b, err)
	require.Len(b, page.Entries, 500)
	size := 0
	for i := range page.Entries {
		size += len(page.Entries[i].AdditionalDetails)
	}
	in := newInterner()
	m := newBoxMetric(measurement, time.Now())
	b.SetBytes(int64(size))
	for b.Loop() {
		for i := range page.Entries {
			ev := &page.Entries[i]
			m.reset()
			addDetails(m, in, ev.AdditionalDetails, categoryOf(ev.EventType))
		}
	}
}

// toMetric is what the reader does with each event.
func toMetric(ev *boxevents.Event, now time.Time, in *interner) telegraf.Metric {
	ts, ok := eventTime(ev)
	if !ok {
		ts = now
	}
	return eventMetric(ev, boxevents.StreamAdminLogs, ts, in)
}
