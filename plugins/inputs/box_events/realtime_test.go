package box_events

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// What OPTIONS /2.0/events says of its realtime server (ttl, max_retries,
// retry_timeout) is Box's to choose; whatever it says, an idle user stream
// waits on one long poll and does not read GET /events.

// realtimeFields serves the simulator with the OPTIONS answer's member
// (ttl, max_retries or retry_timeout) replaced by raw JSON.
func realtimeFields(t *testing.T, sim *boxsim.Server, member, value string) *httptest.Server {
	re := regexp.MustCompile(`"` + member + `":("[^"]*"|[0-9]+)`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			sim.Handler().ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		sim.Handler().ServeHTTP(rec, r)
		body := re.ReplaceAllLiteral(rec.Body.Bytes(), []byte(`"`+member+`":`+value))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body) //nolint:errcheck // a client that went away needs no answer
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUserStream_OddRealtimeServerValuesStayIdle(t *testing.T) {
	tests := []struct {
		member, value string
	}{
		{"retry_timeout", `0`},
		{"retry_timeout", `-5`},
		{"retry_timeout", `"abc"`},
		{"retry_timeout", `1000000000000`}, // seconds beyond what a time.Duration holds
		{"retry_timeout", `"10000000000"`}, // the same as a string
		{"ttl", `0`},
		{"ttl", `"-1"`},
		{"ttl", `200000000`}, // minutes beyond what a time.Duration holds
		{"ttl", `"1000000000000"`},
		{"max_retries", `0`},
		{"max_retries", `"-3"`},
		{"max_retries", `99999999999999999999`}, // beyond int64: as if absent
	}
	for _, tt := range tests {
		t.Run(tt.member+"="+tt.value, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 87, Clock: mock})
			p := withMock(newPlugin(sim, "all"), mock)
			p.BaseURL = realtimeFields(t, sim, tt.member, tt.value).URL
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)
			require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 2, 10*time.Second))

			// A minute of quiet, well within Box's retry_timeout: one long
			// poll is held, nothing else is sent.
			gets, polls, options := sim.Requests(boxsim.EndpointEvents), sim.Requests(boxsim.EndpointLongPoll), sim.Requests(boxsim.EndpointOptions)
			for range 60 {
				mock.Add(time.Second)
				time.Sleep(time.Millisecond) // let the plugin take its turn
			}
			require.Equal(t, gets, sim.Requests(boxsim.EndpointEvents), "GET /events while idle")
			require.Equal(t, polls, sim.Requests(boxsim.EndpointLongPoll), "long polls while idle")
			require.Equal(t, options, sim.Requests(boxsim.EndpointOptions), "OPTIONS while idle")

			// And news still come through.
			sim.EmitUser(2)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
			require.Empty(t, errorTexts(acc))
			require.Equal(t, 1, sim.Requests(boxsim.EndpointOptions), "a few polls within Box's ttl and max_retries: one realtime server")
		})
	}
}

// A realtime server that cannot be reached (an egress firewall that lets
// api.box.com through but not *.realtime.services.box.net, a proxy that
// refuses OPTIONS, an outage) left the stream unread after its first drain:
// every retry went straight back to the long poll.
func TestUserStream_RealtimeServerDownStillReads(t *testing.T) {
	tests := []struct {
		name     string
		endpoint boxsim.Endpoint
		fault    boxsim.FaultKind
	}{
		{"long poll reset", boxsim.EndpointLongPoll, boxsim.FaultReset},
		{"long poll answered by a proxy", boxsim.EndpointLongPoll, boxsim.FaultProxyHTML},
		{"realtime server list refused", boxsim.EndpointOptions, boxsim.FaultProxyHTML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 88, Clock: mock})
			sim.InjectFault(tt.endpoint, boxsim.Fault{Kind: tt.fault, Times: 1 << 20})
			p := withMock(newPlugin(sim, "all"), mock)
			sim.EmitUser(2)
			acc, out := run(t, p)
			pump(t, mock, out, retryStep, func() bool { return len(accErrors(acc)) > 0 }, "no error reported")
			require.Equal(t, 2, int(acc.NMetrics()))

			sim.EmitUser(3)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
			require.Len(t, errorTexts(acc), 1, "one failure streak, one error")
		})
	}
}
