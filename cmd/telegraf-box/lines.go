package main

import (
	"math"
	"strconv"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/serializers/influx"
)

// lineWriter appends metrics as InfluxDB line protocol, byte for byte as Telegraf's influx
// serializer (default settings) writes them, which stays the one home of line protocol's rules.
// A metric whose every name and key can be written as it is (no character to escape or drop),
// with fields of the common types, takes a direct path, which escapes string field values itself
// (a backslash before a quote or a backslash); any other goes through the serializer.
// The direct path exists because the serializer looks for characters to escape with
// strings.ContainsAny, which builds a character set on every call: with the two dozen keys and
// values of a Box event that was a fifth of the execd binary's CPU on a backlog (pprof).
// FuzzLineWriter checks both paths against the serializer alone.
type lineWriter struct {
	serializer influx.Serializer
}

func newLineWriter() (*lineWriter, error) {
	w := &lineWriter{}
	if err := w.serializer.Init(); err != nil {
		return nil, err
	}
	return w, nil
}

// appendMetric appends m's line to buf. It reports false, with buf unchanged, for a metric
// that cannot be written as line protocol at all (no name, no field that can be written).
func (w *lineWriter) appendMetric(buf []byte, m telegraf.Metric) ([]byte, bool) {
	if out, ok := appendPlain(buf, m); ok {
		return out, true
	}
	line, err := w.serializer.Serialize(m)
	if err != nil {
		return buf, false
	}
	return append(buf, line...), true
}

// appendPlain appends m's line when nothing in it needs the serializer's care, and reports
// false otherwise (buf's contents up to its old length are left as they were).
func appendPlain(buf []byte, m telegraf.Metric) ([]byte, bool) {
	start := len(buf)
	name := m.Name()
	if name == "" || !plain(name, false) {
		return buf[:start], false
	}
	buf = append(buf, name...)
	for _, tag := range m.TagList() {
		// The serializer leaves out empty tags and trims trailing backslashes.
		if !plainTagPart(tag.Key) || !plainTagPart(tag.Value) {
			return buf[:start], false
		}
		buf = append(buf, ',')
		buf = append(buf, tag.Key...)
		buf = append(buf, '=')
		buf = append(buf, tag.Value...)
	}
	fields := m.FieldList()
	if len(fields) == 0 {
		return buf[:start], false
	}
	for i, field := range fields {
		if field.Key == "" || !plain(field.Key, true) {
			return buf[:start], false
		}
		if i == 0 {
			buf = append(buf, ' ')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, field.Key...)
		buf = append(buf, '=')
		switch v := field.Value.(type) {
		case string:
			buf = append(buf, '"')
			buf = appendStringField(buf, v)
			buf = append(buf, '"')
		case int64:
			buf = append(strconv.AppendInt(buf, v, 10), 'i')
		case bool:
			buf = strconv.AppendBool(buf, v)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return buf[:start], false
			}
			buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
		default:
			return buf[:start], false
		}
	}
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, m.Time().UnixNano(), 10)
	return append(buf, '\n'), true
}

// plain reports whether s has none of the characters the serializer escapes in a measurement
// name ("\t\n\f\r ,"), or, with equals, in a tag key, tag value or field key (those and "=").
// Eight bytes at a time, the last eight of a string of eight or more in one word that may
// overlap the one before, as most keys and values have nothing to escape; a word with a byte
// that may be one of them (or another control character) is looked at byte by byte.
func plain(s string, equals bool) bool {
	suspect := func(w uint64) bool { return hasLess(w, 0x21)|hasByte(w, ',')|hasByte(w, '=') != 0 }
	if len(s) < 8 {
		return plainBytes(s, equals)
	}
	for i := 0; i+8 < len(s); i += 8 {
		if suspect(load8(s, i)) {
			return plainBytes(s[i:], equals)
		}
	}
	last := len(s) - 8
	return !suspect(load8(s, last)) || plainBytes(s[last:], equals)
}

// plainBytes is plain, byte by byte.
func plainBytes(s string, equals bool) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\f', '\r', ' ', ',':
			return false
		case '=':
			if equals {
				return false
			}
		}
	}
	return true
}

// plainTagPart reports whether a tag key or value is written as it is: not empty, nothing to
// escape, no trailing backslash.
func plainTagPart(s string) bool {
	return s != "" && s[len(s)-1] != '\\' && plain(s, true)
}

// plainString reports whether a string field value needs no escaping: no quote or backslash.
// Eight bytes at a time, as plain does.
func plainString(s string) bool {
	special := func(w uint64) bool { return hasByte(w, '"')|hasByte(w, '\\') != 0 }
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	for i := 0; i+8 < len(s); i += 8 {
		if special(load8(s, i)) {
			return false
		}
	}
	return !special(load8(s, len(s)-8))
}

// appendStringField appends a string field value escaped as the serializer escapes it: a
// backslash before each quote and each backslash, nothing else. File names and details with
// quotes are common enough (one event in twelve of a simulated backlog) that sending their
// whole metric through the serializer cost more than the rest of the direct path.
func appendStringField(buf []byte, s string) []byte {
	if plainString(s) {
		return append(buf, s...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, s[i])
	}
	return buf
}

// The classic bit tricks on eight bytes at once: lows has 1 in each byte, highs its top bit.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 returns s[i:i+8] as a little-endian word (the compiler makes it one load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasLess is non-zero when a byte of w is below n (n <= 128).
func hasLess(w uint64, n byte) uint64 { return (w - lows*uint64(n)) & ^w & highs }

// hasByte is non-zero when a byte of w is c.
func hasByte(w uint64, c byte) uint64 { return hasLess(w^(lows*uint64(c)), 1) }
