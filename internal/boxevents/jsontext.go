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

// stringEnd returns the index just past the JSON string that starts at b[i] == '"', or -1.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for j <= len(b) {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		// The quote closes the string unless an odd number of backslashes escapes it.
		n := 0
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
	return -1
}

// valueEnd returns the index just past the JSON value that starts at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e := stringEnd(b, i)
				if e < 0 {
					return -1
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default: // number, true, false, null
		j := i
	scan:
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ':', '"', '{', '[', ' ', '\t', '\n', '\r':
				break scan
			}
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// members iterates over the members of a JSON object.
type members struct {
	b []byte
	i int
}

// objectMembers starts an iteration over the JSON object b; ok is false if b is not an object.
func objectMembers(b []byte) (m members, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return members{}, false
	}
	return members{b: b, i: i + 1}, true
}

// next returns the next member's raw key (without quotes, still escaped) and raw value.
func (m *members) next() (key, val []byte, ok bool) {
	b := m.b
	i := skipSpace(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	ke := stringEnd(b, i)
	if ke < 0 {
		return nil, nil, false
	}
	key = b[i+1 : ke-1]
	i = skipSpace(b, ke)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	ve := valueEnd(b, i)
	if ve < 0 {
		return nil, nil, false
	}
	m.i = ve
	return key, b[i:ve], true
}

// memberKey returns an object key ready to compare. Keys are matched exactly, as encoding/json
// does for map keys (not case-insensitively as for struct fields). Box does not escape its keys;
// an escaped one is unescaped, which allocates.
func memberKey(key []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 {
		return key
	}
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	s, _ := jsonString(quoted)
	return []byte(s)
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
	v = trimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
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

// discard skips a JSON value without allocating.
type discard struct{}

// UnmarshalJSON ignores the value, which the decoder has already validated.
func (*discard) UnmarshalJSON([]byte) error { return nil }
