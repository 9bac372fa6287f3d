package box_events

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// openConns counts the connections the plugin opened that are not closed yet.
type openConns struct {
	mu     sync.Mutex
	open   int
	dialed int
}

func (o *openConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.open++
	o.dialed++
	o.mu.Unlock()
	return &countedConn{Conn: c, o: o}, nil
}

func (o *openConns) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.open
}

type countedConn struct {
	net.Conn
	o    *openConns
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.o.mu.Lock()
		c.o.open--
		c.o.mu.Unlock()
	})
	return c.Conn.Close()
}

// After Stop nothing of the plugin holds a connection to Box: the keep-alive
// connections it kept idle for its next request are closed, whatever it was
// doing. A SIGHUP reload runs a new instance in the same process, with a
// transport of its own; the stopped one's connections stayed open (with two
// goroutines each) until the transport's idle timeout.
func TestStop_ClosesConnections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		fault  boxsim.Fault // on GET /events once the stream is caught up
	}{
		{name: "idle between polls", stream: "admin_logs_streaming"},
		{name: "waiting out a 429", stream: "admin_logs_streaming", fault: boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: time.Minute}},
		{name: "backing off after 500s", stream: "admin_logs_streaming", fault: boxsim.Fault{Kind: boxsim.FaultServerError, Times: 10}},
		{name: "holding a long poll", stream: "all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 95, Clock: mock})
			// The realtime server is another host, as on Box: the API's
			// connection idles while the long poll is held.
			_, err := sim.StartRealtime("")
			require.NoError(t, err)
			p := withMock(newPlugin(sim, tc.stream), mock)
			var conns openConns
			p.dialContext = conns.dial
			require.NoError(t, p.Init())
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			out := &output{acc: acc}
			emit(sim, p, 3)
			catchUp(t, sim, p, mock, out)
			if tc.fault.Kind != "" {
				sim.InjectFault(boxsim.EndpointEvents, tc.fault)
				emit(sim, p, 3)
				advanceUntil(t, mock, time.Second, func() bool { return sim.PendingFaults(boxsim.EndpointEvents) < max(tc.fault.Times, 1) },
					"the fault was never served")
			}
			if tc.stream == "all" {
				require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
			}
			require.Positive(t, conns.count())

			p.Stop()
			require.Eventually(t, func() bool { return conns.count() == 0 }, 5*time.Second, time.Millisecond,
				"%d of %d connections still open after Stop", conns.count(), conns.dialed)
		})
	}
}

// Stop ends a client-credentials token request in flight (a token endpoint
// that does not answer): only a refresh-token rotation is worth finishing.
// The request went on, with its connection and goroutine, for up to the
// token source's one-minute timeout after Stop.
func TestStop_EndsTokenRequestInFlight(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 96, Clock: mock})
	sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultHang})
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	var conns openConns
	p.dialContext = conns.dial
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	require.NoError(t, sim.WaitRequests(boxsim.EndpointToken, 1, 10*time.Second))

	p.Stop()
	require.Eventually(t, func() bool { return conns.count() == 0 }, 5*time.Second, time.Millisecond,
		"the token request's connection is still open after Stop")
}
