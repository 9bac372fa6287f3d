package main

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/metric"
)

// accumulator is the runner's telegraf.Accumulator. It treats each metric as
// Telegraf's agent accumulator does (the input's options through MakeMetric,
// timestamps rounded to the precision, tracking through Telegraf's tracking
// metrics), but hands the writer a tracked group as one batch: a page of
// events becomes one write to stdout, not one channel send per metric.
type accumulator struct {
	maker     agent.MetricMaker
	batches   chan<- []telegraf.Metric
	precision time.Duration
}

func newAccumulator(maker agent.MetricMaker, batches chan<- []telegraf.Metric) *accumulator {
	return &accumulator{maker: maker, batches: batches, precision: time.Nanosecond}
}

func (a *accumulator) AddFields(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, tags, fields, telegraf.Untyped, t)
}

func (a *accumulator) AddGauge(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, tags, fields, telegraf.Gauge, t)
}

func (a *accumulator) AddCounter(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, tags, fields, telegraf.Counter, t)
}

func (a *accumulator) AddSummary(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, tags, fields, telegraf.Summary, t)
}

func (a *accumulator) AddHistogram(name string, fields map[string]any, tags map[string]string, t ...time.Time) {
	a.add(name, tags, fields, telegraf.Histogram, t)
}

func (a *accumulator) add(name string, tags map[string]string, fields map[string]any, tp telegraf.ValueType, t []time.Time) {
	ts := time.Now()
	if len(t) > 0 {
		ts = t[0]
	}
	a.AddMetric(metric.New(name, tags, fields, ts, tp))
}

func (a *accumulator) AddMetric(m telegraf.Metric) {
	if m = a.make(m); m != nil {
		a.batches <- []telegraf.Metric{m}
	}
}

// make applies the input's options; nil means the metric was filtered out
// (and, if tracked, counts as delivered).
func (a *accumulator) make(m telegraf.Metric) telegraf.Metric {
	m.SetTime(m.Time().Round(a.precision))
	return a.maker.MakeMetric(m)
}

func (a *accumulator) AddError(err error) {
	if err != nil {
		a.maker.Log().Errorf("Error in plugin: %v", err)
	}
}

func (a *accumulator) SetPrecision(precision time.Duration) { a.precision = precision }

// WithTracking returns the tracking accumulator; at most maxTracked tracking
// IDs may wait for their delivery notice, as with Telegraf's.
func (a *accumulator) WithTracking(maxTracked int) telegraf.TrackingAccumulator {
	return &trackingAccumulator{accumulator: a, delivered: make(chan telegraf.DeliveryInfo, maxTracked)}
}

type trackingAccumulator struct {
	*accumulator
	delivered chan telegraf.DeliveryInfo
}

func (t *trackingAccumulator) AddTrackingMetric(m telegraf.Metric) telegraf.TrackingID {
	tm, id := metric.WithTracking(m, t.onDelivery)
	t.AddMetric(tm)
	return id
}

// AddTrackingMetricGroup sends the group's metrics to the writer as one batch.
func (t *trackingAccumulator) AddTrackingMetricGroup(group []telegraf.Metric) telegraf.TrackingID {
	tracked, id := metric.WithGroupTracking(group, t.onDelivery)
	batch := make([]telegraf.Metric, 0, len(tracked)) // the input may reuse its slice
	for _, m := range tracked {
		if m = t.make(m); m != nil {
			batch = append(batch, m)
		}
	}
	if len(batch) > 0 {
		t.batches <- batch
	}
	return id
}

func (t *trackingAccumulator) Delivered() <-chan telegraf.DeliveryInfo { return t.delivered }

func (t *trackingAccumulator) onDelivery(info telegraf.DeliveryInfo) {
	select {
	case t.delivered <- info:
	default:
		// As in Telegraf: more groups tracked than the input asked room for.
		panic("channel is full")
	}
}
