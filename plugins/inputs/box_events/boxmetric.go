package box_events

import (
	"encoding/gob"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// Inline room of a boxMetric: the tags and fields an event has. More are added to the heap as
// Telegraf's own metric would add them.
const (
	inlineTags   = 4
	inlineFields = 24
)

// boxMetric is a telegraf.Metric for one Box event that is built in one allocation: its tags
// and fields live inside it rather than in one heap object each, which is most of the cost of
// turning an event into a metric with metric.New (a Field, a slice slot and a boxed value per
// field). Once built it behaves exactly as Telegraf's own metric (package metric) does, for
// processors, outputs, aggregators and the disk buffer alike: every method below keeps that
// metric's semantics, which the tests check operation by operation against it.
type boxMetric struct {
	name   string
	tm     time.Time
	tp     telegraf.ValueType
	tags   []*telegraf.Tag   // sorted by key
	fields []*telegraf.Field // in the order added

	// The inline room; usedTags and usedFields count the slots taken (a slot is
	// never reused, since a removed tag's slot may still be pointed to).
	usedTags, usedFields int
	tagArr               [inlineTags]telegraf.Tag
	tagPtr               [inlineTags]*telegraf.Tag
	fieldArr             [inlineFields]telegraf.Field
	fieldPtr             [inlineFields]*telegraf.Field

	// pool takes the metric back on Release; nil for a metric not made by a converter.
	pool *metricPool
	// pooled is true while the metric is in its pool.
	pooled bool
	// text is the page text the metric's strings may be in, held until Release.
	text *textLease
}

// newBoxMetric returns an empty metric named name, at tm.
func newBoxMetric(name string, tm time.Time) *boxMetric {
	m := &boxMetric{name: name, tm: tm, tp: telegraf.Untyped}
	m.tags = m.tagPtr[:0]
	m.fields = m.fieldPtr[:0]
	return m
}

// reset empties the metric for reuse, leaving nothing in it that would keep a value alive.
func (m *boxMetric) reset() {
	clear(m.tagArr[:m.usedTags])
	clear(m.fieldArr[:m.usedFields])
	clear(m.tagPtr[:])
	clear(m.fieldPtr[:])
	m.usedTags, m.usedFields = 0, 0
	m.tags = m.tagPtr[:0]
	m.fields = m.fieldPtr[:0]
}

// Release gives the metric back to the converter that made it, for a later event. Only the
// metric's last owner may call it, once nothing refers to the metric any more: Telegraf itself
// never does (its outputs and buffers keep metrics as long as they need), the execd runner
// does once it wrote the metric to stdout and acknowledged it. A metric not made by a
// converter, or already given back, is left alone.
func (m *boxMetric) Release() {
	if m.pool == nil || m.pooled {
		return
	}
	m.reset()
	m.name, m.tm, m.tp = "", time.Time{}, telegraf.Untyped
	text := m.text
	m.text = nil
	m.pool.put(m)
	text.done() // after the reset: nothing of the metric is in the text any more
}

// textLease counts the holders of a page's text (boxevents.PageText): the reader while it
// turns the page into metrics, and each metric made of the page until it is given back with
// Release. The last one gives the text back to the client, for a later page. A metric never
// given back (compiled in, Telegraf's outputs keep metrics as long as they need) keeps the
// count above zero: the text is then left to the garbage collector.
type textLease struct {
	holders atomic.Int32
	text    boxevents.PageText
	recycle func(boxevents.PageText)
}

// newTextLease returns a lease of text held once, by its caller.
func newTextLease(text boxevents.PageText, recycle func(boxevents.PageText)) *textLease {
	l := &textLease{text: text, recycle: recycle}
	l.holders.Store(1)
	return l
}

// hold adds n holders at once (one atomic operation for a page's metrics, not one each: the
// goroutine writing them takes holders away at the same time); a nil lease holds nothing.
func (l *textLease) hold(n int) {
	if l != nil && n > 0 {
		l.holders.Add(int32(n))
	}
}

// done removes a holder; the last one gives the text back.
func (l *textLease) done() {
	if l != nil && l.holders.Add(-1) == 0 {
		l.recycle(l.text)
	}
}

// metricPool keeps metrics given back by Release for the next events (at most limit of them
// wait to be taken, and as many may have been taken and not handed out yet);
// the goroutine that converts events takes them, the one that writes metrics gives them back.
// Without it every event allocates a metric of about 1.3 KB, which, with the page text, is
// most of what the garbage collector has to reclaim on a backlog. The converting goroutine
// takes all that wait at once and then serves itself without the lock: one lock per metric on
// both sides had the two goroutines' cores pass the lock back and forth (2.8% of the execd
// binary's CPU, pprof).
type metricPool struct {
	mu    sync.Mutex
	free  []*boxMetric // given back, at most limit
	limit int
	taken []*boxMetric // taken from free by get, which alone uses them
}

func newMetricPool(limit int) *metricPool {
	return &metricPool{free: make([]*boxMetric, 0, limit), limit: limit}
}

// get returns an empty metric of an event (named measurement), at tm: one given back, else a
// new one. A nil pool always makes a new one that is never given back. One goroutine at a time
// may call it (the converter's).
func (p *metricPool) get(tm time.Time) *boxMetric {
	if p == nil {
		return newBoxMetric(measurement, tm)
	}
	if len(p.taken) == 0 {
		p.mu.Lock()
		p.taken, p.free = p.free, p.taken
		p.mu.Unlock()
	}
	n := len(p.taken)
	if n == 0 {
		m := newBoxMetric(measurement, tm)
		m.pool = p
		return m
	}
	m := p.taken[n-1]
	p.taken[n-1] = nil
	p.taken = p.taken[:n-1]
	m.pooled = false
	m.name, m.tm = measurement, tm
	return m
}

// put keeps m, emptied, unless the pool is full.
func (p *metricPool) put(m *boxMetric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.limit {
		m.pooled = true
		p.free = append(p.free, m)
	}
}

// appendTag adds a tag while building: keys must come in ascending order and only once.
func (m *boxMetric) appendTag(key, value string) {
	if n := m.usedTags; n < inlineTags {
		m.usedTags++
		m.tagArr[n] = telegraf.Tag{Key: key, Value: value}
		m.tags = append(m.tags, &m.tagArr[n])
		return
	}
	m.tags = append(m.tags, &telegraf.Tag{Key: key, Value: value})
}

// appendField adds a field while building: each key only once, and value already one of the
// types Telegraf's metric converts to (string, int64, uint64, float64, bool).
func (m *boxMetric) appendField(key string, value any) {
	if n := m.usedFields; n < inlineFields {
		m.usedFields++
		m.fieldArr[n] = telegraf.Field{Key: key, Value: value}
		m.fields = append(m.fields, &m.fieldArr[n])
		return
	}
	m.fields = append(m.fields, &telegraf.Field{Key: key, Value: value})
}

// Name implements telegraf.Metric.
func (m *boxMetric) Name() string { return m.name }

// TagList implements telegraf.Metric: the tags sorted by key.
func (m *boxMetric) TagList() []*telegraf.Tag { return m.tags }

// FieldList implements telegraf.Metric: the fields in the order added.
func (m *boxMetric) FieldList() []*telegraf.Field { return m.fields }

// Time implements telegraf.Metric.
func (m *boxMetric) Time() time.Time { return m.tm }

// Type implements telegraf.Metric.
func (m *boxMetric) Type() telegraf.ValueType { return m.tp }

// SetName implements telegraf.Metric.
func (m *boxMetric) SetName(name string) { m.name = name }

// AddPrefix implements telegraf.Metric.
func (m *boxMetric) AddPrefix(prefix string) { m.name = prefix + m.name }

// AddSuffix implements telegraf.Metric.
func (m *boxMetric) AddSuffix(suffix string) { m.name += suffix }

// SetTime implements telegraf.Metric.
func (m *boxMetric) SetTime(t time.Time) { m.tm = t }

// SetType implements telegraf.Metric.
func (m *boxMetric) SetType(t telegraf.ValueType) { m.tp = t }

// Accept implements telegraf.Metric; an untracked metric has nothing to report.
func (*boxMetric) Accept() {}

// Reject implements telegraf.Metric; an untracked metric has nothing to report.
func (*boxMetric) Reject() {}

// Drop implements telegraf.Metric; an untracked metric has nothing to report.
func (*boxMetric) Drop() {}

// Tags implements telegraf.Metric.
func (m *boxMetric) Tags() map[string]string {
	tags := make(map[string]string, len(m.tags))
	for _, tag := range m.tags {
		tags[tag.Key] = tag.Value
	}
	return tags
}

// Fields implements telegraf.Metric.
func (m *boxMetric) Fields() map[string]any {
	fields := make(map[string]any, len(m.fields))
	for _, field := range m.fields {
		fields[field.Key] = field.Value
	}
	return fields
}

// GetTag implements telegraf.Metric.
func (m *boxMetric) GetTag(key string) (string, bool) {
	for _, tag := range m.tags {
		if tag.Key == key {
			return tag.Value, true
		}
	}
	return "", false
}

// HasTag implements telegraf.Metric.
func (m *boxMetric) HasTag(key string) bool {
	_, ok := m.GetTag(key)
	return ok
}

// AddTag implements telegraf.Metric: an existing tag is changed in place, a new one inserted in
// key order.
func (m *boxMetric) AddTag(key, value string) {
	for i, tag := range m.tags {
		if key > tag.Key {
			continue
		}
		if key == tag.Key {
			tag.Value = value
			return
		}
		m.tags = slices.Insert(m.tags, i, &telegraf.Tag{Key: key, Value: value})
		return
	}
	m.tags = append(m.tags, &telegraf.Tag{Key: key, Value: value})
}

// RemoveTag implements telegraf.Metric.
func (m *boxMetric) RemoveTag(key string) {
	for i, tag := range m.tags {
		if tag.Key == key {
			m.tags = slices.Delete(m.tags, i, i+1)
			return
		}
	}
}

// GetField implements telegraf.Metric.
func (m *boxMetric) GetField(key string) (any, bool) {
	for _, field := range m.fields {
		if field.Key == key {
			return field.Value, true
		}
	}
	return nil, false
}

// HasField implements telegraf.Metric.
func (m *boxMetric) HasField(key string) bool {
	_, ok := m.GetField(key)
	return ok
}

// AddField converts value the way Telegraf's metric does (it is the one that knows how), then
// adds or replaces the field.
func (m *boxMetric) AddField(key string, value any) {
	value = convertValue(value)
	for i, field := range m.fields {
		if key == field.Key {
			m.fields[i] = &telegraf.Field{Key: key, Value: value}
			return
		}
	}
	m.fields = append(m.fields, &telegraf.Field{Key: key, Value: value})
}

// convertValue is Telegraf's conversion of a field value (int to int64, *string to string,
// ...; nil when it has none), asked of Telegraf's own metric.
func convertValue(value any) any {
	switch value.(type) {
	case string, int64, uint64, float64, bool:
		return value
	}
	v, _ := metric.New("", nil, map[string]any{"v": value}, time.Time{}).GetField("v")
	return v
}

// RemoveField implements telegraf.Metric.
func (m *boxMetric) RemoveField(key string) {
	for i, field := range m.fields {
		if field.Key == key {
			m.fields = slices.Delete(m.fields, i, i+1)
			return
		}
	}
}

// Copy returns a deep copy, built inline like the original.
func (m *boxMetric) Copy() telegraf.Metric {
	c := newBoxMetric(m.name, m.tm)
	c.tp = m.tp
	for _, tag := range m.tags {
		c.appendTag(tag.Key, tag.Value)
	}
	for _, field := range m.fields {
		c.appendField(field.Key, field.Value)
	}
	return c
}

// HashID identifies the series: name and tags, hashed as Telegraf's metric does.
func (m *boxMetric) HashID() uint64 {
	h := fnv.New64a()
	h.Write([]byte(m.name))
	h.Write([]byte("\n"))
	for _, tag := range m.tags {
		h.Write([]byte(tag.Key))
		h.Write([]byte("\n"))
		h.Write([]byte(tag.Value))
		h.Write([]byte("\n"))
	}
	return h.Sum64()
}

// HashIDWithFieldsFiltered is HashID over the tags not excluded plus the names of the fields
// not excluded, as Telegraf's metric computes it.
func (m *boxMetric) HashIDWithFieldsFiltered(excludedTags, excludedFields []string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(m.name))
	h.Write([]byte("\n"))
	for _, tag := range m.tags {
		if slices.Contains(excludedTags, tag.Key) {
			continue
		}
		h.Write([]byte(tag.Key))
		h.Write([]byte("\n"))
		h.Write([]byte(tag.Value))
		h.Write([]byte("\n"))
	}
	keys := make([]string, 0, len(m.fields))
	for _, field := range m.fields {
		if !slices.Contains(excludedFields, field.Key) {
			keys = append(keys, field.Key)
		}
	}
	slices.Sort(keys)
	h.Write([]byte(strings.Join(keys, "\n")))
	return h.Sum64()
}

// GobEncode lets Telegraf's disk buffer store the metric (metric.ToBytes): it is stored as
// Telegraf's own metric.
func (m *boxMetric) GobEncode() ([]byte, error) {
	return metric.ToBytes(metric.FromMetric(m))
}

// GobDecode restores what GobEncode stored.
func (m *boxMetric) GobDecode(data []byte) error {
	stored, err := metric.FromBytes(data)
	if err != nil {
		return err
	}
	*m = boxMetric{name: stored.Name(), tm: stored.Time(), tp: stored.Type()}
	m.tags = m.tagPtr[:0]
	m.fields = m.fieldPtr[:0]
	for _, tag := range stored.TagList() {
		m.appendTag(tag.Key, tag.Value)
	}
	for _, field := range stored.FieldList() {
		m.appendField(field.Key, field.Value)
	}
	return nil
}

func init() {
	// The disk buffer encodes metrics with encoding/gob, which must know every concrete type.
	gob.Register(&boxMetric{})
}
