package box_events

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Box can only be asked for a page with the position the last one gave, and the next page is
// asked for as soon as that position is known, before the page's entries decode (Box sends
// chunk_size and next_stream_position first). A hostile answer can make that early page the
// wrong one: it repeats next_stream_position after its entries (the last counts, as
// encoding/json has it), or its chunk_size says full while its entries are fewer. The early
// page is then dropped and its place given back; the stream goes on from the position the
// decoded page gives, every event once and in order, none of the dropped page's.
func TestReadAhead_EarlyPageDroppedWhenTheDecodedPageDiffers(t *testing.T) {
	event := func(id string) string {
		return fmt.Sprintf(`{"type":"event","event_id":%q,"event_type":"LOGIN","created_at":"2026-03-04T10:53:43-08:00"}`, id)
	}
	for _, tt := range []struct {
		name  string
		first string // the answer at position 0
		want  string
	}{
		{name: "position repeated after the entries",
			first: `{"chunk_size":2,"next_stream_position":"7","entries":[` + event("e1") + "," + event("e2") + `],"next_stream_position":"2"}`,
			want:  "e1 e2 e3 e4"},
		{name: "chunk_size says full, fewer entries",
			first: `{"chunk_size":2,"next_stream_position":"2","entries":[` + event("e1") + "]}",
			want:  "e1 e3 e4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 31})
			var early atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/2.0/events" {
					sim.Handler().ServeHTTP(w, r) // tokens
					return
				}
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Query().Get("stream_position") {
				case "0":
					fmt.Fprint(w, tt.first)
				case "7":
					early.Add(1)
					fmt.Fprint(w, `{"chunk_size":2,"next_stream_position":"9","entries":[`+event("bad1")+","+event("bad2")+"]}")
				case "2":
					fmt.Fprint(w, `{"chunk_size":2,"next_stream_position":"4","entries":[`+event("e3")+","+event("e4")+"]}")
				default:
					fmt.Fprint(w, `{"chunk_size":0,"next_stream_position":"4","entries":[]}`)
				}
			}))
			t.Cleanup(srv.Close) // after the plugin stopped (run registers Stop later)

			p := newPlugin(sim, "admin_logs_streaming")
			p.BaseURL = srv.URL
			p.PageSize = 2
			p.MaxUndeliveredPages = 2
			acc, out := run(t, p)
			waitCommitted(t, p, out, "4")
			ms := acc.GetTelegrafMetrics()
			ids := make([]string, 0, len(ms))
			for _, m := range ms {
				id, _ := m.GetField("event_id")
				ids = append(ids, id.(string))
			}
			require.Equal(t, tt.want, strings.Join(ids, " "))
			// The early page was dropped once the page decoded, often before its request
			// went out; either way its place is given back.
			require.LessOrEqual(t, early.Load(), int32(1))
			require.Eventually(t, func() bool {
				p.tracker.mu.Lock()
				defer p.tracker.mu.Unlock()
				return p.tracker.used == 0 && p.tracker.notices == 0
			}, 10*time.Second, time.Millisecond, "every place given back")
		})
	}
}
