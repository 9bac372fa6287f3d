package boxevents

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The helpers in this file walk JSON text that encoding/json has already validated: a json.Decoder
// hands an Unmarshaler exactly one complete, well-formed value. They look for structure, not for
// errors, which is what makes them cheap; on malformed input they stop early (ok == false or -1)
// instead of panicking, and exported entry points check json.Valid first.

// skipSpace returns the index of the first non-whitespace byte of b at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// trimSpace trims JSON whitespace (which is narrower than bytes.TrimSpace's: no \f, \v, U+0085).
func trimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 {
		switch b[len(b)-1] {
		case ' ', '\t', '\n', '\r':
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}

// appendLenient appends to sb the text a lenient string field takes from the JSON value v: a
// string's content, a number's or a boolean's literal text, and nothing for null, objects and
// arrays.
func appendLenient(sb *strings.Builder, v []byte) {
	if len(v) == 0 {
		return
	}
	switch v[0] {
	case '"':
		if len(v) < 2 {
			return
		}
		if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			sb.Write(inner)
			return
		}
		// Escapes or invalid UTF-8: rare, let encoding/json apply its exact rules.
		var s string
		if json.Unmarshal(v, &s) == nil {
			sb.WriteString(s)
		}
	case '{', '[', 'n':
	default:
		sb.Write(v)
	}
}

// lenientString returns the text a lenient string field takes from the JSON value v.
func lenientString(v []byte) string {
	v = trimSpace(v)
	if len(v) > 1 && v[0] == '"' && plainString(v[1:len(v)-1]) {
		return string(v[1 : len(v)-1])
	}
	var sb strings.Builder
	appendLenient(&sb, v)
	return sb.String()
}

// jsonString decodes the JSON string v; ok is false if v is not a well-formed JSON string.
func jsonString(v []byte) (s string, ok bool) {
	if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' && plainString(v[1:len(v)-1]) {
		return string(v[1 : len(v)-1]), true
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainString reports whether b is printable ASCII without quotes or backslashes, so that it is
// its own JSON string content.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// jsonKind names the kind of the JSON value v for error messages, without quoting it.
func jsonKind(v []byte) string {
	p := parser{b: v}
	return kindName(p.kind())
}

// flexString is a lenient string for small wire structs: strings, numbers, booleans and null.
type flexString string

// UnmarshalJSON accepts any JSON scalar; see lenientString.
func (s *flexString) UnmarshalJSON(b []byte) error {
	*s = flexString(lenientString(b))
	return nil
}

// flexInt is an integer Box sends either as a JSON number or as a string ("10"); anything else,
// including non-integers, decodes as 0 so that the caller applies its default.
type flexInt int

// UnmarshalJSON accepts an integer as a JSON number or string, and anything else as 0.
func (n *flexInt) UnmarshalJSON(b []byte) error {
	v, err := strconv.Atoi(strings.TrimSpace(lenientString(b)))
	if err != nil {
		v = 0
	}
	*n = flexInt(v)
	return nil
}
