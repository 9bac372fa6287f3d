package box_events

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// skewedClock is a host clock off Box's by offset (positive: ahead): its
// wall-clock readings are shifted, its timers and tickers run on the mock,
// as a VM's clock that is a few minutes wrong still measures durations right.
type skewedClock struct {
	*clock.Mock
	offset time.Duration
}

func (c skewedClock) Now() time.Time                  { return c.Mock.Now().Add(c.offset) }
func (c skewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c skewedClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// A backfill reads admin_logs up to the moment it began and continues
// admin_logs_streaming from Box's current position at that moment. When the
// host's clock is behind Box's (a VM a few minutes off), "the moment it
// began" must still be Box's: the events of those minutes are past the
// handover position, and must be in the admin_logs part.
func TestBackfill_HostClockOffBox(t *testing.T) {
	for _, offset := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		t.Run(offset.String(), func(t *testing.T) {
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
			p.clock = skewedClock{Mock: mock, offset: offset}
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
