package box_events

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Behaviours of Box's API (BOX_API.md) that no other test drove the plugin
// through.

// A realtime server that answers every long poll at once without news
// (reconnect, max_retries or a message of its own: one that lost its
// channels, a broken node) was polled once a second, with an OPTIONS before
// each poll, and the stream was not read until the six-hourly refresh.
func TestUserStream_RealtimeServerAnsweringAtOnceStillReads(t *testing.T) {
	for _, body := range []string{`{"version":1,"message":"reconnect"}`, `{"message":"max_retries"}`, `{"message":"busy"}`} {
		t.Run(body, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.New(boxsim.Options{Seed: 120, Clock: mock}) // not listening: it hands out the wrapper's URL
			var polls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/subscribe" {
					polls.Add(1)
					w.Header().Set("Content-Type", "application/json")
					w.Write([]byte(body)) //nolint:errcheck // test server
					return
				}
				sim.Handler().ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(sim.Close)
			p := withMock(newPlugin(sim, "all"), mock)
			p.BaseURL = srv.URL
			acc, out := run(t, p)
			require.Eventually(t, func() bool { return polls.Load() > 0 }, 10*time.Second, time.Millisecond)

			sim.EmitUser(3)
			start, before := mock.Now(), polls.Load()
			for range 120 {
				out.accept()
				mock.Add(time.Second)
				time.Sleep(time.Millisecond) // let the plugin take its turn; the bound below holds whatever the pace
			}
			require.LessOrEqual(t, polls.Load()-before, int32(12), "two minutes of a realtime server answering at once: the polls back off")
			pump(t, mock, out, time.Second, func() bool { return acc.NMetrics() == 3 }, "the events were never read")
			require.Less(t, mock.Since(start), 10*time.Minute, "the events were read late")
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}

// Box answering pages of events without a usable next_stream_position (null,
// missing in other clients' experience: box-node-sdk re-polls, python-gen
// jumps to "now") is one failure for as long as it lasts: one error, then
// the failure policy's backoff, not an error at every read.
func TestUnusablePosition_OneErrorPerStreak(t *testing.T) {
	for _, stream := range []string{"admin_logs_streaming", "all"} {
		t.Run(stream, func(t *testing.T) {
			sim, m, p := newMangled(t, stream)
			mock := mockClock()
			withMock(p, mock)
			p.PollInterval = 0 // the stream's default
			emit(sim, p, 2)
			acc, out := run(t, p)
			catchUp(t, sim, p, mock, out)
			head := committed(p)

			m.set("null")
			emit(sim, p, 3)
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			gets := sim.Requests(boxsim.EndpointEvents)
			for range 10 * 60 {
				out.accept()
				mock.Add(time.Second)
				time.Sleep(100 * time.Microsecond)
			}
			require.Len(t, errorTexts(acc), 1, "ten minutes of the same fault")
			require.Contains(t, errorTexts(acc)[0], "next_stream_position")
			require.Equal(t, head, committed(p))
			require.LessOrEqual(t, sim.Requests(boxsim.EndpointEvents)-gets, 60, "re-reads of the same page back off")

			m.set("")
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
		})
	}
}
