package plugin_test

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// The two streams every test reads: a user stream (long poll, repeats at the next
// position) and the enterprise streaming log (polled, repeats and disorder).
const (
	userStream       = string(boxsim.StreamAll)
	enterpriseStream = string(boxsim.StreamAdminLogsStreaming)
)

var bothStreams = []string{userStream, enterpriseStream}

// startSim starts a simulated Box on a loopback port of the test process, with the
// quirks of the real one switched on: repeated events on both streams, out-of-order
// streaming events, positions as strings and bare numbers, short pages, and a
// realtime server on another host (127.0.0.2) over plain http, as Box's are.
func startSim(t *testing.T, seed uint64) *boxsim.Server {
	t.Helper()
	return startSimWith(t, boxsim.Options{Seed: seed, ShortPages: true})
}

// startSimWith is startSim with options of the test's own (Seed, MaxEvents,
// ShortPages ...) on top of the other quirks.
func startSimWith(t *testing.T, opts boxsim.Options) *boxsim.Server {
	t.Helper()
	opts.PositionFormat = boxsim.PositionMixed
	opts.StreamingDuplicateRate = 0.1
	opts.StreamingDisorder = true
	opts.UserDuplicateRate = 0.1
	sim := boxsim.New(opts)
	_, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	_, err = sim.StartRealtime("127.0.0.2:0")
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	return sim
}

// requireNoRealtimeCredentials checks that the realtime host, which is not Box's API
// host and is reached over plain http, never received a token or As-User.
func requireNoRealtimeCredentials(t *testing.T, sim *boxsim.Server) {
	t.Helper()
	reqs := sim.RequestLog(boxsim.EndpointLongPoll)
	require.NotEmpty(t, reqs, "the user stream long-polls the realtime host")
	for _, r := range reqs {
		require.Empty(t, r.Header.Get("Authorization"), "a bearer token went to the realtime host over plain http")
		require.Empty(t, r.Header.Get("As-User"))
	}
	t.Logf("the realtime host got %d long polls, none with credentials", len(reqs))
}

// enableFaults makes a tenth of GET /2.0/events fail the way Box and its
// proxies do now and then: 429, 5xx and dropped connections.
func enableFaults(sim *boxsim.Server) {
	sim.SetRandomFaults(boxsim.EndpointEvents, 0.1,
		boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: time.Second},
		boxsim.Fault{Kind: boxsim.FaultServerError, Status: http.StatusInternalServerError},
		boxsim.Fault{Kind: boxsim.FaultServerError, Status: http.StatusBadGateway},
		boxsim.Fault{Kind: boxsim.FaultServerError, Status: http.StatusServiceUnavailable},
		boxsim.Fault{Kind: boxsim.FaultReset},
	)
}

// producer emits events on both streams every productionInterval until stopped. It is used
// instead of StartGenerator because stop must wait for the last emission: the test
// takes ProducedIDs right after it as the expected result.
type producer struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
}

// productionInterval: with 1-3 user and 1-4 enterprise events per tick, a few
// hundred events per stream in ten seconds.
const productionInterval = 100 * time.Millisecond

func startProducing(t *testing.T, sim *boxsim.Server, seed uint64) *producer {
	t.Helper()
	p := &producer{stopCh: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 0x70726f64)) // reproducible on purpose
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ticker := time.NewTicker(productionInterval)
		defer ticker.Stop()
		for {
			select {
			case <-p.stopCh:
				return
			case <-ticker.C:
				sim.EmitUser(1 + rng.IntN(3))
				sim.EmitEnterprise(1 + rng.IntN(4))
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop ends production and returns once no more events can be added. Events the
// streaming log holds back (disorder, repeats) are still served: every read of
// admin_logs_streaming flushes them.
func (p *producer) stop() {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	p.wg.Wait()
}

// producedIDs returns what the simulated Box produced on each stream: the expected
// content of every output.
func producedIDs(sim *boxsim.Server) map[string][]string {
	out := make(map[string][]string, len(bothStreams))
	for _, s := range bothStreams {
		out[s] = sim.ProducedIDs(boxsim.Stream(s))
	}
	return out
}

// logFaults reports how many event reads the simulated Box answered with a fault, so
// that a passing run shows the faults really happened.
func logFaults(t *testing.T, sim *boxsim.Server) {
	t.Helper()
	reqs := sim.RequestLog(boxsim.EndpointEvents)
	faults := 0
	for _, r := range reqs {
		if r.Fault != "" {
			faults++
		}
	}
	t.Logf("the simulated Box answered %d of %d GET /2.0/events with a fault", faults, len(reqs))
}
