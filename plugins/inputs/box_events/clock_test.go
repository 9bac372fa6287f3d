package box_events

import (
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// skewedClock is a host clock off Box's by offset (positive: ahead): its
// wall-clock readings are shifted, its timers and tickers run on the mock,
// as a VM's clock that is a few minutes wrong still measures durations right.
type skewedClock struct {
	*clock.Mock
	offset atomic.Int64 // ns
}

func newSkewedClock(mock *clock.Mock, offset time.Duration) *skewedClock {
	c := &skewedClock{Mock: mock}
	c.offset.Store(int64(offset))
	return c
}

func (c *skewedClock) Now() time.Time                  { return c.Mock.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *skewedClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// A backfill reads admin_logs up to the moment it began and continues
// admin_logs_streaming from Box's current position at that moment. When the
// host's clock is behind Box's (a VM a few minutes off), "the moment it
// began" must still be Box's: the events of those minutes are past the
// handover position, and must be in the admin_logs part.
// A Date header that is not Box's time (a proxy's own clock set decades
// off) must not move the admin_logs part's end before the handover either:
// the later of the answer's Date and the host's clock ends it.
func TestBackfill_HostClockOffBox(t *testing.T) {
	for _, tt := range []struct {
		offset time.Duration
		date   string // the Date header every answer carries instead of Box's
	}{
		{offset: -10 * time.Minute},
		{offset: 10 * time.Minute},
		{date: "Mon, 01 Jan 1990 00:00:00 GMT"},
	} {
		offset := tt.offset
		t.Run(offset.String()+tt.date, func(t *testing.T) {
			mock := mockClock() // Box's clock
			now := mock.Now()
			start := now.Add(-30 * 24 * time.Hour)
			mock.Set(start.Add(time.Hour))
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 96, Clock: mock})
			old := sim.EmitEnterprise(3)
			mock.Set(now.Add(-5 * time.Minute))
			recent := sim.EmitEnterprise(4) // five minutes before the backfill began, by Box's clock
			mock.Set(now)

			p := newPlugin(sim, "admin_logs_streaming")
			if tt.date != "" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					sim.Handler().ServeHTTP(dateWriter{ResponseWriter: w, date: tt.date}, r)
				}))
				t.Cleanup(srv.Close)
				p.BaseURL = srv.URL
			}
			p.clock = newSkewedClock(mock, offset)
			p.Timeout = config.Duration(time.Hour)
			p.StartPosition = start.Format(time.RFC3339)
			p.PollInterval = config.Duration(15 * time.Second)
			acc, out := run(t, p)
			pump(t, mock, out, time.Second, func() bool {
				return p.reader.currentBackfill() == nil && committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
			}, "the backfill never handed over")
			live := sim.EmitEnterprise(2)
			pump(t, mock, out, time.Second, func() bool {
				return committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
			})
			want := sorted(append(append(eventIDsOf(old), eventIDsOf(recent)...), eventIDsOf(live)...))
			require.Equal(t, want, eventIDs(acc.GetTelegrafMetrics()), "each event exactly once across the handover")
		})
	}
}

// A collector runs for months. Through a simulated week of a user stream
// (an event or a few an hour, long polls timing out, realtime servers
// replaced every ten minutes, access tokens expiring every hour, and, in
// the second run, one request in twenty failing: 429, 5xx, resets,
// truncated bodies, 401s) nothing grows with the time, the pages, the
// failures or the reconnects: goroutines, groups in flight, remembered
// events; and without 401s the token is asked for once an hour or so.
func TestLongRun_UserStreamWeekStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated week takes about half a minute")
	}
	for _, faults := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "faults"}[faults], func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 98, Clock: mock})
			if faults {
				for _, ep := range []boxsim.Endpoint{boxsim.EndpointEvents, boxsim.EndpointOptions, boxsim.EndpointLongPoll} {
					sim.SetRandomFaults(ep, 0.05)
				}
				sim.SetRandomFaults(boxsim.EndpointEvents, 0.05, boxsim.Fault{Kind: boxsim.FaultServerError},
					boxsim.Fault{Kind: boxsim.FaultReset}, boxsim.Fault{Kind: boxsim.FaultRateLimit},
					boxsim.Fault{Kind: boxsim.FaultTruncated}, boxsim.Fault{Kind: boxsim.FaultUnauthorized})
				sim.SetRandomFaults(boxsim.EndpointToken, 0.05, boxsim.Fault{Kind: boxsim.FaultServerError})
			}
			p := withMock(newPlugin(sim, "all"), mock)
			p.DedupWindow = 50
			acc, out := run(t, p)

			var goroutines, tokens int
			for hour := range 7 * 24 {
				sim.EmitUser(1 + hour%3)
				catchUp(t, sim, p, mock, out)
				for range 30 {
					// Steps far quicker than requests travel may outrun the
					// one-minute bound of a token request: such a timeout is
					// reported and retried, and costs one request more.
					mock.Add(2 * time.Minute)
					time.Sleep(200 * time.Microsecond)
				}
				if hour == 24 {
					goroutines, tokens = runtime.NumGoroutine(), sim.Requests(boxsim.EndpointToken)
				}
			}
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))

			p.tracker.mu.Lock()
			queued, byID, seen := len(p.tracker.queue), len(p.tracker.byID), len(p.tracker.seen.set)
			p.tracker.mu.Unlock()
			require.Zero(t, queued)
			require.Zero(t, byID)
			require.LessOrEqual(t, seen, p.DedupWindow)
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+5 }, 5*time.Second, 10*time.Millisecond,
				"goroutines grew over six days: %d, %d after the first day", runtime.NumGoroutine(), goroutines)
			if !faults {
				require.LessOrEqual(t, sim.Requests(boxsim.EndpointToken)-tokens, 6*24+6+len(errorTexts(acc)),
					"more than a token request an hour")
			}
			t.Logf("goroutines %d -> %d; token requests %d; OPTIONS %d; long polls %d; GET /events %d; errors %d",
				goroutines, runtime.NumGoroutine(), sim.Requests(boxsim.EndpointToken), sim.Requests(boxsim.EndpointOptions),
				sim.Requests(boxsim.EndpointLongPoll), sim.Requests(boxsim.EndpointEvents), len(errorTexts(acc)))
		})
	}
}

// JWT assertions are dated by the host's clock, and Box refuses one whose
// exp is past or more than 60 s ahead by its own. A VM a few minutes off
// still reads its stream, after one refused assertion (the offset is learnt
// from Box's Date header), and renews its token every hour on the same
// offset. One far off gets one error that says to fix the clock, and asks
// for a token every five minutes, not in a loop.
func TestAuth_JWTHostClockOff(t *testing.T) {
	key, err := jwtTestKey()
	require.NoError(t, err)
	for _, offset := range []time.Duration{3 * time.Minute, -3 * time.Minute} {
		t.Run("within bound "+offset.String(), func(t *testing.T) {
			mock := mockClock()
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 99, Clock: mock,
				JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey}})
			path, _ := writeJWTConfig(t, key, jwtPassphrase)
			p := jwtPlugin(withMock(newPlugin(sim, "admin_logs_streaming"), mock), path)
			p.clock = newSkewedClock(mock, offset)
			acc, out := run(t, p)
			emit(sim, p, 2)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, 1, sim.Grants(boxsim.GrantJWT))
			require.Equal(t, 2, sim.Requests(boxsim.EndpointToken), "the first assertion is refused, the second dated by Box's clock")
			for hour := 1; hour <= 3; hour++ {
				// Box's tokens last an hour: the next one is asked for ahead of
				// expiry. Small steps, so that no assertion ages in flight.
				mock.Add(54 * time.Minute)
				advanceUntil(t, mock, time.Second, func() bool { return sim.Grants(boxsim.GrantJWT) > hour }, "no new token")
				emit(sim, p, 2)
				catchUp(t, sim, p, mock, out)
			}
			require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()))
			require.Empty(t, errorTexts(acc))
			require.Equal(t, 4, sim.Grants(boxsim.GrantJWT))
			require.Equal(t, 5, sim.Requests(boxsim.EndpointToken), "only the first assertion was refused: the offset is kept")
		})
	}
	t.Run("beyond bound", func(t *testing.T) {
		mock := mockClock()
		sim := boxsim.NewTest(t, boxsim.Options{Seed: 99, Clock: mock,
			JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey}})
		path, _ := writeJWTConfig(t, key, jwtPassphrase)
		p := jwtPlugin(withMock(newPlugin(sim, "admin_logs_streaming"), mock), path)
		p.clock = newSkewedClock(mock, -20*time.Minute)
		acc, _ := run(t, p)
		require.Eventually(t, func() bool { return len(errorTexts(acc)) > 0 }, 10*time.Second, time.Millisecond)
		for range 60 {
			mock.Add(time.Minute)
			time.Sleep(time.Millisecond)
		}
		errs := errorTexts(acc)
		require.Len(t, errs, 1, "one report for the streak")
		require.Contains(t, errs[0], "the local clock differs from Box's by about 20m (it is behind)")
		require.Contains(t, errs[0], "fix the system clock (NTP)")
		require.LessOrEqual(t, sim.Requests(boxsim.EndpointToken), 1+60/5+1, "token requests in an hour")
		require.Zero(t, sim.Grants(boxsim.GrantJWT))
	})
}

// A laptop that sleeps: Go's monotonic clock, which dates the token's
// expiry, does not count the hours suspended, so the plugin takes its
// token for valid when Box has long expired it. The 401 is answered by a
// new token, at once and without an error.
func TestAuth_TokenAfterSuspend(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 100, Clock: mock})
	clk := newSkewedClock(mock, 0)
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.clock = clk
	acc, out := run(t, p)
	emit(sim, p, 2)
	catchUp(t, sim, p, mock, out)

	clk.offset.Add(int64(-8 * time.Hour)) // the plugin's clock does not see the night
	mock.Add(8 * time.Hour)
	emit(sim, p, 3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
	require.Equal(t, 2, sim.Grants(boxsim.GrantClientCredentials))
}

// Box's refresh tokens last 60 days. A host that slept 61 days finds its
// token expired: one error says the consent flow must be run again, the
// token endpoint is asked every five minutes, not in a loop, and a new
// token put in the file is picked up.
func TestAuth_RefreshTokenAfter61DaysAsleep(t *testing.T) {
	const initial = "initialRefreshTokenFromConsent0123456789abcdefghijklmnopqrstuvwxyz"
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 101, Clock: mock, RefreshTokens: []string{initial}})
	path := filepath.Join(t.TempDir(), "box_refresh_token")
	require.NoError(t, os.WriteFile(path, []byte(initial+"\n"), 0o600))
	clk := newSkewedClock(mock, 0)
	p := withMock(newPlugin(sim, "all"), mock)
	p.clock = clk
	p.Auth = authOAuth2Refresh
	p.RefreshToken = path
	p.SubjectType, p.SubjectID = "", ""
	acc, out := run(t, p)
	emit(sim, p, 2)
	catchUp(t, sim, p, mock, out)

	clk.offset.Add(int64(-61 * 24 * time.Hour))
	mock.Add(61 * 24 * time.Hour)
	// One jump may come before the plugin started the wait it should end
	// (on a loaded machine): time goes on until the refusal is reported.
	advanceUntil(t, mock, time.Second, func() bool { return len(errorTexts(acc)) > 0 }, "the spent refresh token was never reported")
	before := sim.Requests(boxsim.EndpointToken)
	for range 30 {
		mock.Add(time.Minute)
		time.Sleep(time.Millisecond)
	}
	errs := errorTexts(acc)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "expired or revoked; the OAuth2 consent flow may need to be re-run")
	require.LessOrEqual(t, sim.Requests(boxsim.EndpointToken)-before, 30/5+1)

	const renewed = "renewedRefreshTokenFromConsent0123456789abcdefghijklmnopqrstuvwxy"
	sim.AddRefreshToken(renewed)
	require.NoError(t, os.WriteFile(path, []byte(renewed+"\n"), 0o600))
	emit(sim, p, 3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
}

// A 429 whose Retry-After is an HTTP date is a moment by Box's clock: read
// against the answer's Date, as the token sources read it, a host clock ten
// minutes behind Box's neither stalls the stream for those ten minutes nor
// reports an error for a two-second pause.
func TestRateLimit_RetryAfterDateOnHostClockOff(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 102, Clock: mock})
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.clock = newSkewedClock(mock, -10*time.Minute)
	acc, out := run(t, p)
	emit(sim, p, 2)
	catchUp(t, sim, p, mock, out)

	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 2 * time.Second, RetryAfterDate: true})
	emit(sim, p, 3)
	start := mock.Now()
	catchUp(t, sim, p, mock, out)
	require.Less(t, mock.Since(start), time.Minute, "the stream waited far longer than the 2 s Box asked for")
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

// dateWriter replaces the Date header of an answer, as a proxy with its own
// clock does.
type dateWriter struct {
	http.ResponseWriter
	date string
}

func (w dateWriter) WriteHeader(code int) {
	w.Header().Set("Date", w.date)
	w.ResponseWriter.WriteHeader(code)
}

func (w dateWriter) Write(b []byte) (int, error) {
	if w.Header().Get("Date") != w.date {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
