package boxevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// StreamPosition is a position in a Box event stream, kept as the exact text Box sent.
//
// Box sends next_stream_position as a JSON string or as a bare JSON number, and the numbers are
// beyond 2^53, so a float64 would silently change them (elastic/integrations#14319). The text
// therefore goes from the wire to the checkpoint byte for byte.
type StreamPosition string

// PositionNow asks Box for no events and the latest position; it initialises a stream.
const PositionNow StreamPosition = "now"

// Usable reports whether p is a position Box answered with rather than a placeholder: it is
// non-empty and neither "0" (Box's "all events", also what empty enterprise pages answer) nor
// "now". Whether it may be checkpointed is Resumable's stricter question.
func (p StreamPosition) Usable() bool {
	return p != "" && p != "0" && p != PositionNow
}

// maxPositionDigits bounds a resumable position. Box's positions are about 1e15 to 3e18 (19
// digits); 40 leaves room for growth while keeping a checkpoint file from holding anything long.
const maxPositionDigits = 40

// Resumable reports whether p may be checkpointed and later sent back as stream_position: an
// unsigned decimal integer of 1 to 40 ASCII digits that is not all zeros. It rejects "", "0"
// (which would restart from the oldest retained event), "now" (which would skip everything
// since), signs, fractions, exponents ("1.15e+18", a float64's rendering that names another
// position) and anything else a proxy or a broken decoder might produce. Leading zeros are
// accepted: unusual, but still the same decimal position.
func (p StreamPosition) Resumable() bool {
	if len(p) == 0 || len(p) > maxPositionDigits || !isDigits(string(p)) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '0' {
			return true
		}
	}
	return false
}

// String returns the position text.
func (p StreamPosition) String() string { return string(p) }

// UnmarshalJSON accepts a JSON string or a bare JSON number, keeping the number's text byte for
// byte (it never passes through float64). JSON null gives the empty position. Other JSON kinds are
// an error.
func (p *StreamPosition) UnmarshalJSON(data []byte) error {
	data = trimSpace(data)
	if len(data) == 0 {
		return errors.New("stream position: empty JSON value")
	}
	switch c := data[0]; {
	case c == '"':
		s, ok := jsonString(data)
		if !ok {
			return errors.New("stream position: malformed JSON string")
		}
		*p = StreamPosition(s)
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		if !isJSONNumber(data) {
			return errors.New("stream position: malformed JSON number")
		}
		*p = StreamPosition(data)
		return nil
	case bytes.Equal(data, []byte("null")):
		*p = ""
		return nil
	default:
		return fmt.Errorf("stream position: want a JSON string or number, got %s", jsonKind(data))
	}
}

// MarshalJSON always writes the position as a JSON string.
func (p StreamPosition) MarshalJSON() ([]byte, error) {
	if isDigits(string(p)) {
		b := make([]byte, 0, len(p)+2)
		b = append(b, '"')
		b = append(b, p...)
		return append(b, '"'), nil
	}
	return json.Marshal(string(p))
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether b is exactly one JSON number (RFC 8259 grammar).
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(b)
}
