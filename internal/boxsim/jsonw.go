package boxsim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonw appends JSON to one buffer without maps, reflection or per-value allocations:
// the generator's hot path. Every value is followed by a comma, and closing an object
// or array turns the trailing comma into the bracket, so callers never track "first
// field". The caller writes keys in the order it wants them on the wire; the generator
// writes them sorted, as encoding/json orders a map's keys, so its output is the bytes
// json.Marshal gave for the maps it replaced.
type jsonw struct {
	b []byte
	// The last time formatted and its text: an event writes its created_at several
	// times, and AppendFormat is the dearest step of a page.
	lastTime time.Time
	lastText [32]byte
	lastLen  int
}

// key writes "k": (k is one of our own field names and needs no escaping).
func (w *jsonw) key(k string) {
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// open writes "k":{ , or { at the top level or inside an array when k is "".
func (w *jsonw) open(k string) {
	if k != "" {
		w.key(k)
	}
	w.b = append(w.b, '{')
}

// close ends the object open wrote.
func (w *jsonw) close() { w.end('}') }

// openArray writes "k":[ .
func (w *jsonw) openArray(k string) {
	w.key(k)
	w.b = append(w.b, '[')
}

// closeArray ends the array openArray wrote.
func (w *jsonw) closeArray() { w.end(']') }

func (w *jsonw) end(c byte) {
	if n := len(w.b) - 1; w.b[n] == ',' {
		w.b[n] = c
	} else {
		w.b = append(w.b, c)
	}
	w.b = append(w.b, ',')
}

// done drops the comma after the top-level value and returns the buffer.
func (w *jsonw) done() []byte {
	if n := len(w.b) - 1; n >= 0 && w.b[n] == ',' {
		w.b = w.b[:n]
	}
	return w.b
}

func (w *jsonw) str(k, v string) {
	w.key(k)
	w.b = appendJSONString(w.b, v)
	w.b = append(w.b, ',')
}

func (w *jsonw) num(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
	w.b = append(w.b, ',')
}

// numString writes v as a string of decimal digits, as Box sends most ids.
func (w *jsonw) numString(k string, v int) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = strconv.AppendInt(w.b, int64(v), 10)
	w.b = append(w.b, '"', ',')
}

// ascii writes b, which holds only characters JSON strings need not escape.
func (w *jsonw) ascii(k string, b []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = append(w.b, b...)
	w.b = append(w.b, '"', ',')
}

// raw writes "k": and v, which is JSON already ("" leaves out the key, as open does).
func (w *jsonw) raw(k, v string) {
	if k != "" {
		w.key(k)
	}
	w.b = append(w.b, v...)
	w.b = append(w.b, ',')
}

// digits writes v, a string of decimal digits, as a bare JSON number.
func (w *jsonw) digits(k, v string) {
	w.key(k)
	w.b = append(w.b, v...)
	w.b = append(w.b, ',')
}

func (w *jsonw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
	w.b = append(w.b, ',')
}

func (w *jsonw) null(k string) {
	w.key(k)
	w.b = append(w.b, "null,"...)
}

// hex writes b as a string of lowercase hex digits.
func (w *jsonw) hex(k string, b []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendHex(w.b, b)
	w.b = append(w.b, '"', ',')
}

// time writes t in created_at's layout.
func (w *jsonw) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	if w.lastLen == 0 || !t.Equal(w.lastTime) || t.Location() != w.lastTime.Location() {
		w.lastTime = t
		w.lastLen = len(appendBoxTime(w.lastText[:0], t))
	}
	w.b = append(w.b, w.lastText[:w.lastLen]...)
	w.b = append(w.b, '"', ',')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII characters a JSON string holds as they are (encoding/json's
// htmlSafeSet).
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// appendJSONString appends s as a JSON string escaped as encoding/json escapes it by
// default: quotes, backslashes and control characters, the HTML characters <, > and
// &, U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendBoxTime appends t.Format(boxTime), a few times faster.
func appendBoxTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, boxTime)
	}
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	offset /= 60
	dst = append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	dst = appendTwo(dst, int(month), '-')
	dst = appendTwo(dst, day, 'T')
	dst = appendTwo(dst, hour, ':')
	dst = appendTwo(dst, minute, ':')
	dst = appendTwo(dst, sec, sign)
	dst = appendTwo(dst, offset/60%100, ':')
	return append(dst, byte('0'+offset%60/10), byte('0'+offset%10))
}

// appendTwo appends v as two digits, then sep.
func appendTwo(dst []byte, v int, sep byte) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10), sep)
}
