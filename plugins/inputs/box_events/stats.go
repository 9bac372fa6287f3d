package box_events

import (
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/selfstat"

	"github.com/telegraf-box/telegraf-box/internal/boxauth"
	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const (
	// statsName is registered with selfstat, which reports it as statsMeasurement.
	statsName        = "box_events"
	statsMeasurement = "internal_" + statsName
	// defaultStatsInterval is how often telegraf-box writes the self-metrics
	// under execd (stats_interval).
	defaultStatsInterval = time.Minute
	// statsIDLength is how much of the plugin's ID tags the self-metrics of
	// an input without alias.
	statsIDLength = 12
)

// stats are the plugin's self-metrics: counters since Init and gauges,
// registered with Telegraf's selfstat (compiled in, [[inputs.internal]]
// reports them) and read directly by telegraf-box under execd. Every
// instance has its own, told apart by the tag id; Stop unregisters them.
type stats struct {
	clock   clock.Clock
	tracker *tracker // set once Init built it; nil before
	tags    map[string]string
	started time.Time
	all     []selfstat.Stat // in field order
	// newest is the newest created_at emitted, in Unix nanoseconds; 0 before
	// the first event.
	newest atomic.Int64

	eventsEmitted      selfstat.Stat
	duplicatesDropped  selfstat.Stat
	eventsFiltered     selfstat.Stat
	pagesFetched       selfstat.Stat
	apiRequests        selfstat.Stat
	apiErrors4xx       selfstat.Stat
	apiErrors5xx       selfstat.Stat
	apiErrorsNetwork   selfstat.Stat
	apiErrorsDecode    selfstat.Stat
	rateLimited        selfstat.Stat
	rateLimitedWaitMs  selfstat.Stat
	tokenRefreshes     selfstat.Stat
	tokenFailures      selfstat.Stat
	longpollReconnects selfstat.Stat
	positionsRejected  selfstat.Stat
	pagesRewound       selfstat.Stat
	eventsRefused      selfstat.Stat
	lagSeconds         selfstat.Stat
	commitAgeSeconds   selfstat.Stat
	pagesInFlight      selfstat.Stat
}

// newStats registers the self-metrics of one input, tagged with its stream
// type and id.
func newStats(clk clock.Clock, stream boxevents.StreamType, id string) *stats {
	s := &stats{
		clock:   clk,
		tags:    map[string]string{"stream_type": string(stream), "id": id},
		started: clk.Now(),
	}
	for _, f := range []struct {
		name string
		stat *selfstat.Stat
	}{
		{"events_emitted", &s.eventsEmitted},
		{"duplicates_dropped", &s.duplicatesDropped},
		{"events_filtered", &s.eventsFiltered},
		{"pages_fetched", &s.pagesFetched},
		{"api_requests", &s.apiRequests},
		{"api_errors_4xx", &s.apiErrors4xx},
		{"api_errors_5xx", &s.apiErrors5xx},
		{"api_errors_network", &s.apiErrorsNetwork},
		{"api_errors_decode", &s.apiErrorsDecode},
		{"rate_limited", &s.rateLimited},
		{"rate_limited_wait_ms", &s.rateLimitedWaitMs},
		{"token_refreshes", &s.tokenRefreshes},
		{"token_failures", &s.tokenFailures},
		{"longpoll_reconnects", &s.longpollReconnects},
		{"positions_rejected", &s.positionsRejected},
		{"pages_rewound", &s.pagesRewound},
		{"events_refused", &s.eventsRefused},
		{"lag_seconds", &s.lagSeconds},
		{"commit_age_seconds", &s.commitAgeSeconds},
		{"pages_in_flight", &s.pagesInFlight},
	} {
		st := selfstat.Register(statsName, f.name, s.tags)
		*f.stat = st
		s.all = append(s.all, st)
	}
	return s
}

// statsID is what tells this input's self-metrics apart from another's: the
// input's alias, or the start of its ID. Telegraf gives a plugin its alias
// only through the tags of the selfstat.Collector it sets in Statistics, so
// a stat is registered there for a moment to read them.
func statsID(c *selfstat.Collector, id string) string {
	if c != nil {
		const probe = statsName + "_alias_probe"
		alias := c.Register(probe, "alias", nil).Tags()["alias"]
		c.Unregister(probe, "alias", nil)
		if alias != "" {
			return alias
		}
	}
	if len(id) > statsIDLength {
		id = id[:statsIDLength]
	}
	return id
}

// checkStatsInterval checks stats_interval.
func checkStatsInterval(d time.Duration) error {
	if d != 0 && d < time.Second {
		return fmt.Errorf("invalid stats_interval %s: want \"0s\" (no self-metrics on stdout under execd) or at least 1s", d)
	}
	return nil
}

// clientObserver counts what the Box client sees.
func (s *stats) clientObserver() boxevents.Observer {
	return boxevents.Observer{
		Request: func(r boxevents.Request) {
			s.apiRequests.Incr(1)
			switch r.Outcome {
			case boxevents.OutcomeOK:
				if r.Kind == boxevents.RequestEvents {
					s.pagesFetched.Incr(1)
				}
			case boxevents.OutcomeClientError:
				s.apiErrors4xx.Incr(1)
			case boxevents.OutcomeServerError:
				s.apiErrors5xx.Incr(1)
			case boxevents.OutcomeNetwork:
				s.apiErrorsNetwork.Incr(1)
			case boxevents.OutcomeDecode:
				s.apiErrorsDecode.Incr(1)
			case boxevents.OutcomeRateLimited:
				s.rateLimited.Incr(1)
				s.rateLimitedWaitMs.Incr(r.RetryAfter.Milliseconds())
			}
		},
		LongPollReconnect: func(string) { s.longpollReconnects.Incr(1) },
		PositionRejected:  func() { s.positionsRejected.Incr(1) },
	}
}

// authObserver counts token requests.
func (s *stats) authObserver() boxauth.Observer {
	return boxauth.Observer{
		Refreshed: func() { s.tokenRefreshes.Incr(1) },
		Failed:    func(error) { s.tokenFailures.Incr(1) },
	}
}

// emitted counts n events handed to the accumulator, the newest of which
// was created at newest (zero when none had a usable created_at).
func (s *stats) emitted(n int, newest time.Time) {
	s.eventsEmitted.Incr(int64(n))
	if newest.IsZero() {
		return
	}
	ns := newest.UnixNano()
	for {
		old := s.newest.Load()
		if ns <= old || s.newest.CompareAndSwap(old, ns) {
			return
		}
	}
}

// refresh sets the gauges to what they are now.
func (s *stats) refresh() {
	now := s.clock.Now()
	if ns := s.newest.Load(); ns != 0 {
		s.lagSeconds.Set(max(int64(now.Sub(time.Unix(0, ns))/time.Second), 0))
	}
	since := s.started
	if s.tracker != nil {
		if at := s.tracker.committedAt(); at.After(since) {
			since = at
		}
		s.pagesInFlight.Set(int64(s.tracker.inFlight()))
	}
	s.commitAgeSeconds.Set(max(int64(now.Sub(since)/time.Second), 0))
}

// metric returns the self-metrics as they are now, as [[inputs.internal]]
// would report them.
func (s *stats) metric() telegraf.Metric {
	s.refresh()
	fields := make(map[string]any, len(s.all))
	for _, st := range s.all {
		fields[st.FieldName()] = st.Get()
	}
	return metric.New(statsMeasurement, maps.Clone(s.tags), fields, s.clock.Now())
}

// close unregisters the self-metrics.
func (s *stats) close() {
	for _, st := range s.all {
		st.Unregister()
	}
}
