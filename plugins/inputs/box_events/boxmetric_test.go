package box_events

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// sameMetric checks that got behaves as want, Telegraf's own metric, through every reading
// method of the interface.
func sameMetric(t *testing.T, want, got telegraf.Metric, step string) {
	t.Helper()
	testutil.RequireMetricEqual(t, want, got, testutil.SortMetrics())
	require.Equal(t, want.Name(), got.Name(), step)
	require.Equal(t, want.Time(), got.Time(), step)
	require.Equal(t, want.Type(), got.Type(), step)
	require.Equal(t, want.Tags(), got.Tags(), step)
	require.Equal(t, want.Fields(), got.Fields(), step)
	require.Len(t, got.TagList(), len(want.TagList()), step)
	for i, tag := range want.TagList() {
		require.Equal(t, *tag, *got.TagList()[i], step)
	}
	require.Len(t, got.FieldList(), len(want.FieldList()), step)
	for i, field := range want.FieldList() {
		require.Equal(t, *field, *got.FieldList()[i], step, "fields in the order added")
	}
	require.Equal(t, want.HashID(), got.HashID(), step)
	require.Equal(t, want.HashIDWithFieldsFiltered([]string{"b"}, []string{"f1"}),
		got.HashIDWithFieldsFiltered([]string{"b"}, []string{"f1"}), step)
	for _, k := range []string{"a", "b", "c", "user", "zz"} {
		wv, wok := want.GetTag(k)
		gv, gok := got.GetTag(k)
		require.Equal(t, wok, gok, step)
		require.Equal(t, wv, gv, step)
		require.Equal(t, want.HasTag(k), got.HasTag(k), step)
		fw, fwok := want.GetField("f" + k)
		fg, fgok := got.GetField("f" + k)
		require.Equal(t, fwok, fgok, step)
		require.Equal(t, fw, fg, step)
		require.Equal(t, want.HasField("f"+k), got.HasField("f"+k), step)
	}
}

// FuzzBoxMetric applies the same operations to a boxMetric and to Telegraf's metric and
// requires the same result after each: processors, aggregators and outputs must not be able
// to tell them apart.
func FuzzBoxMetric(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 4})
	f.Add([]byte{5, 5, 5, 12, 0, 12, 1, 12, 3, 12})
	metric.Init() // what Telegraf does at start for its disk buffer
	keys := []string{"a", "b", "c", "user", "zz", "event_type"}
	values := []any{"v", "", int64(-3), uint64(7), 1.5, true, 12, []byte("bytes"), nil, int8(4), float32(2.5)}
	f.Fuzz(func(t *testing.T, ops []byte) {
		ts := time.Unix(1700000000, 123)
		want := metric.New("box_events", nil, nil, ts)
		got := telegraf.Metric(newBoxMetric("box_events", ts))
		// Built as eventMetric builds: tags in order, fields once each.
		for i, k := range []string{"a", "c", "user"} {
			want.AddTag(k, "t"+k)
			got.(*boxMetric).appendTag(k, "t"+k)
			want.AddField("f"+k, int64(i))
			got.(*boxMetric).appendField("f"+k, int64(i))
		}
		sameMetric(t, want, got, "built")
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%13, int(ops[i+1])
			key, value := keys[arg%len(keys)], values[arg%len(values)]
			switch op {
			case 0:
				want.AddTag(key, "x"+key)
				got.AddTag(key, "x"+key)
			case 1:
				want.RemoveTag(key)
				got.RemoveTag(key)
			case 2:
				want.AddField("f"+key, value)
				got.AddField("f"+key, value)
			case 3:
				want.AddField(key, value)
				got.AddField(key, value)
			case 4:
				want.RemoveField("f" + key)
				got.RemoveField("f" + key)
			case 5:
				want.SetName(key)
				got.SetName(key)
			case 6:
				want.AddPrefix(key)
				got.AddPrefix(key)
			case 7:
				want.AddSuffix(key)
				got.AddSuffix(key)
			case 8:
				want.SetTime(ts.Add(time.Duration(arg)))
				got.SetTime(ts.Add(time.Duration(arg)))
			case 9:
				want.SetType(telegraf.ValueType(arg % 6))
				got.SetType(telegraf.ValueType(arg % 6))
			case 10:
				// A copy is deep: changing it leaves the original alone.
				wc, gc := want.Copy(), got.Copy()
				wc.AddTag("copy", key)
				gc.AddTag("copy", key)
				wc.RemoveField("fa")
				gc.RemoveField("fa")
				sameMetric(t, wc, gc, "copy")
				want, got = wc, gc
			case 11:
				// Through Telegraf's disk buffer encoding and back.
				data, err := metric.ToBytes(got)
				require.NoError(t, err)
				back, err := metric.FromBytes(data)
				require.NoError(t, err)
				got = back
			case 12:
				if tag := got.TagList(); len(tag) > 0 {
					// Telegraf's AddTag on an existing key changes the Tag in place.
					want.AddTag(want.TagList()[0].Key, "in place")
					got.AddTag(tag[0].Key, "in place")
				}
			}
			sameMetric(t, want, got, fmt.Sprintf("op %d at %d", op, i))
		}
	})
}

// The disk buffer (metric.ToBytes) stores tracking metrics too: the tracking wrapper unwraps
// to the boxMetric, which must encode.
func TestBoxMetric_DiskBufferWithTracking(t *testing.T) {
	metric.Init() // what Telegraf does at start for its disk buffer
	metric.Init()
	ev := boxevents.Event{EventID: "e1", EventType: "LOGIN", CreatedBy: boxevents.User{Login: "a@b.c"}}
	m := eventMetric(&ev, boxevents.StreamAdminLogsStreaming, time.Unix(5, 0), newInterner())
	tracked, _ := metric.WithTracking(m, func(telegraf.DeliveryInfo) {})
	data, err := metric.ToBytes(tracked)
	require.NoError(t, err)
	back, err := metric.FromBytes(data)
	require.NoError(t, err)
	testutil.RequireMetricEqual(t, m, back)
}

// A metric given back by its last owner (Release) is built anew for a later event, with
// nothing of its old name, time, type, tags or fields, and holds no value while it waits. A
// metric given back twice, or not made from a pool (Copy, the disk buffer), is left alone, and
// the pool keeps at most its limit.
func TestMetricPool_ReleasedMetricsAreBuiltAnew(t *testing.T) {
	pool := newMetricPool(2)
	ts := time.Unix(1700000000, 5)
	m := pool.get(ts)
	for _, k := range []string{"a", "b", "c", "d", "e"} { // one more than the inline room
		m.appendTag(k, "v"+k)
	}
	for i := range inlineFields + 2 {
		m.appendField(fmt.Sprintf("f%02d", i), int64(i))
	}
	m.AddTag("zz", "x")
	m.AddField("fa", "replaced")
	m.SetType(telegraf.Counter)
	m.AddPrefix("p_")

	m.Release()
	m.Release() // already in the pool: not kept twice
	require.Len(t, pool.free, 1)
	require.Equal(t, [inlineTags]telegraf.Tag{}, m.tagArr, "a waiting metric keeps no value alive")
	require.Equal(t, [inlineFields]telegraf.Field{}, m.fieldArr, "a waiting metric keeps no value alive")
	require.Equal(t, [inlineFields]*telegraf.Field{}, m.fieldPtr)
	require.Equal(t, [inlineTags]*telegraf.Tag{}, m.tagPtr)

	later := ts.Add(time.Second)
	again := pool.get(later)
	require.Same(t, m, again)
	require.Empty(t, pool.free)
	again.appendTag("user", "u")
	again.appendField("event_id", "1")
	want := metric.New("box_events", map[string]string{"user": "u"}, map[string]any{"event_id": "1"}, later)
	sameMetric(t, want, again, "built again")
	copied, ok := again.Copy().(*boxMetric)
	require.True(t, ok)
	copied.Release() // not from the pool
	require.Empty(t, pool.free)
	sameMetric(t, want, copied, "a copy given back is left alone")

	a, b := pool.get(ts), pool.get(ts)
	again.Release()
	a.Release()
	b.Release()
	require.Len(t, pool.free, 2, "the pool keeps at most its limit")

	var none *metricPool
	plain := none.get(ts)
	plain.appendField("event_id", "2")
	plain.Release()
	require.Equal(t, "2", plain.Fields()["event_id"], "a metric without a pool is never emptied")
}

// The converting goroutine takes the metrics given back all at once and serves itself from
// them while the writing goroutine gives others back: each comes back into use, none is made
// anew while one waits, and no more than the limit wait on either side.
func TestMetricPool_TakesWhatWaitsAtOnce(t *testing.T) {
	pool := newMetricPool(3)
	ts := time.Unix(1700000000, 0)
	made := map[*boxMetric]bool{}
	get := func() *boxMetric {
		m := pool.get(ts)
		made[m] = true
		return m
	}
	a, b, c, d := get(), get(), get(), get()
	a.Release()
	b.Release()
	require.Contains(t, []*boxMetric{a, b}, get(), "taken from what waits")
	c.Release() // given back while one taken is still to be handed out
	d.Release()
	for range 3 {
		get()
	}
	require.Len(t, made, 4, "every metric given back was used again before a new one was made")

	all := make([]*boxMetric, 0, 10)
	for range 10 {
		all = append(all, get())
	}
	for _, m := range all {
		m.Release()
	}
	require.Len(t, pool.free, 3, "at most the limit waits")
	get()
	require.Len(t, pool.taken, 2)
	require.Empty(t, pool.free)
}

// A page's text goes back to the client once the reader and every metric made of the page
// are done with it, and only then; metrics never given back keep it from being reused.
func TestTextLease_GivenBackByTheLastHolder(t *testing.T) {
	recycled := 0
	lease := newTextLease(boxevents.PageText{}, func(boxevents.PageText) { recycled++ })
	c := converter{userTag: userTagLogin, pool: newMetricPool(4), text: lease}
	ev := boxevents.Event{EventID: "e1", EventType: "LOGIN"}
	a := c.metric(&ev, boxevents.StreamAdminLogsStreaming, time.Unix(5, 0)).(*boxMetric)
	b := c.metric(&ev, boxevents.StreamAdminLogsStreaming, time.Unix(5, 0)).(*boxMetric)
	lease.hold(2) // as batch.convert does for the metrics it made
	c.text = nil

	a.Release()
	a.Release()  // once only
	lease.done() // the reader
	require.Zero(t, recycled, "a metric still holds the text")
	b.Release()
	require.Equal(t, 1, recycled)

	kept := newTextLease(boxevents.PageText{}, func(boxevents.PageText) { t.Error("text reused while a metric holds it") })
	c.text = kept
	c.metric(&ev, boxevents.StreamAdminLogsStreaming, time.Unix(5, 0)) // never given back, as compiled in
	kept.hold(1)
	kept.done()
}
