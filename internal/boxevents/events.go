package boxevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StreamType selects a Box event stream (the stream_type query parameter).
type StreamType string

// Stream types. The first three are user streams (long-poll capable); the admin ones are
// enterprise streams.
const (
	// StreamAll is every event of the user (kept 21 days).
	StreamAll StreamType = "all"
	// StreamChanges is the events that may change the user's file tree.
	StreamChanges StreamType = "changes"
	// StreamSync is like StreamChanges, for synced folders only.
	StreamSync StreamType = "sync"
	// StreamAdminLogs is the enterprise history: chronological, no duplicates, high latency,
	// date filters (kept a year).
	StreamAdminLogs StreamType = "admin_logs"
	// StreamAdminLogsStreaming is the live enterprise stream: low latency, not chronological,
	// may repeat events (kept two weeks).
	StreamAdminLogsStreaming StreamType = "admin_logs_streaming"
)

// ParseStreamType returns the stream type named s (case-insensitive, surrounding spaces ignored).
func ParseStreamType(s string) (StreamType, error) {
	switch t := StreamType(strings.ToLower(strings.TrimSpace(s))); t {
	case StreamAll, StreamChanges, StreamSync, StreamAdminLogs, StreamAdminLogsStreaming:
		return t, nil
	}
	return "", fmt.Errorf("unknown stream type %q (want all, changes, sync, admin_logs or admin_logs_streaming)", s)
}

// Enterprise reports whether t is an enterprise stream (admin_logs or admin_logs_streaming).
func (t StreamType) Enterprise() bool {
	return t == StreamAdminLogs || t == StreamAdminLogsStreaming
}

// MaxLimit is the largest page size Box documents; larger limits are clamped to it.
const MaxLimit = 500

// defaultLimit is Box's page size when no limit is sent.
const defaultLimit = 100

// Page is one answer of GET /2.0/events.
type Page struct {
	// ChunkSize is the number of entries Box says the page has.
	ChunkSize int
	// NextStreamPosition is where the next request continues. Empty enterprise pages may answer
	// "0" or nothing: check Usable before adopting it.
	NextStreamPosition StreamPosition
	// Entries are the events in the order Box sent them.
	Entries []Event
}

// EventsQuery selects a page of events.
type EventsQuery struct {
	// StreamType is the stream to read; empty means Box's default (all).
	StreamType StreamType
	// StreamPosition is where to start; "" omits the parameter (Box then starts at the oldest
	// retained event) and PositionNow returns no events and the latest position.
	StreamPosition StreamPosition
	// Limit is the page size; 0 omits it (Box's default 100) and values above MaxLimit are clamped.
	Limit int
	// EventTypes filters enterprise streams; it is comma-joined and ignored for user streams.
	EventTypes []string
	// CreatedAfter and CreatedBefore bound admin_logs by event time; zero omits them and other
	// streams ignore them. They are sent as RFC 3339 with a numeric offset.
	CreatedAfter, CreatedBefore time.Time
}

// rfc3339Offset is RFC 3339 with a numeric offset ("+00:00" rather than "Z"), as Box's SDKs send it.
const rfc3339Offset = "2006-01-02T15:04:05-07:00"

// Events fetches one page of events. Requests that fail with 429, 5xx (except 501), a network error
// or a truncated body are retried with the same stream position, up to Config.MaxAttempts.
func (c *Client) Events(ctx context.Context, q EventsQuery) (*Page, error) {
	if q.StreamType != "" {
		if _, err := ParseStreamType(string(q.StreamType)); err != nil {
			return nil, err
		}
	}
	v := url.Values{}
	var params []string
	if q.StreamType != "" {
		v.Set("stream_type", string(q.StreamType))
		params = append(params, "stream_type="+string(q.StreamType))
	}
	if q.StreamPosition != "" {
		v.Set("stream_position", string(q.StreamPosition))
		params = append(params, "stream_position="+safeParam(string(q.StreamPosition)))
	}
	limit := min(q.Limit, MaxLimit)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if q.StreamType.Enterprise() && len(q.EventTypes) > 0 {
		v.Set("event_type", strings.Join(q.EventTypes, ","))
	}
	if q.StreamType == StreamAdminLogs {
		if !q.CreatedAfter.IsZero() {
			v.Set("created_after", q.CreatedAfter.Format(rfc3339Offset))
		}
		if !q.CreatedBefore.IsZero() {
			v.Set("created_before", q.CreatedBefore.Format(rfc3339Offset))
		}
	}

	cl := c.apiCall(http.MethodGet, v, strings.Join(params, ", "))
	sizeHint := limit
	if sizeHint <= 0 {
		sizeHint = defaultLimit
	}
	var page *Page
	err := c.do(ctx, cl, func(r io.Reader) error {
		var err error
		page, err = decodePage(r, sizeHint)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// decodePage stream-decodes an events page: entries are decoded one at a time into a slice
// preallocated from chunk_size (when Box sends it first, as it does) or from sizeHint.
// A body that ends early yields an error wrapping io.ErrUnexpectedEOF.
func decodePage(r io.Reader, sizeHint int) (*Page, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber() // no token ever passes through float64
	if err := expectDelim(dec, '{', "events page"); err != nil {
		return nil, err
	}
	page := &Page{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		switch key {
		case "chunk_size":
			var n flexInt
			if err := dec.Decode(&n); err != nil {
				return nil, unexpectedEOF(err)
			}
			page.ChunkSize = int(n)
			if page.Entries == nil && n >= 0 {
				// Trust chunk_size for the allocation only up to what was asked for.
				page.Entries = make([]Event, 0, min(int(n), max(sizeHint, MaxLimit)))
			}
		case "next_stream_position":
			if err := dec.Decode(&page.NextStreamPosition); err != nil {
				return nil, fmt.Errorf("next_stream_position: %w", unexpectedEOF(err))
			}
		case "entries":
			if page.Entries == nil {
				page.Entries = make([]Event, 0, sizeHint)
			}
			entries, err := decodeEntries(dec, page.Entries[:0])
			if err != nil {
				return nil, err
			}
			page.Entries = entries
		default:
			if err := dec.Decode(&discard{}); err != nil {
				return nil, unexpectedEOF(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, unexpectedEOF(err)
	}
	if page.Entries == nil {
		page.Entries = make([]Event, 0)
	}
	return page, nil
}

// decodeEntries decodes the entries array (or null) one event at a time, appending to events.
// Entries that are not objects (null, numbers, ...) are skipped rather than failing the page.
func decodeEntries(dec *json.Decoder, events []Event) ([]Event, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	if tok == nil {
		return events, nil
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("entries: want an array, got %s", tokenKind(tok))
	}
	slot := &entrySlot{}
	for dec.More() {
		events = append(events, Event{})
		slot.ev, slot.ok = &events[len(events)-1], false
		if err := dec.Decode(slot); err != nil {
			return nil, fmt.Errorf("entries[%d]: %w", len(events)-1, unexpectedEOF(err))
		}
		if !slot.ok {
			events = events[:len(events)-1]
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, unexpectedEOF(err)
	}
	return events, nil
}

// entrySlot receives one entry from the decoder, which has already validated its JSON text.
type entrySlot struct {
	ev *Event
	ok bool
}

// UnmarshalJSON parses one entry into the slot's event, recording whether it was usable.
func (s *entrySlot) UnmarshalJSON(data []byte) error {
	s.ok = parseEvent(data, s.ev)
	return nil
}

// expectDelim reads the next token and checks that it is the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return unexpectedEOF(err)
	}
	if tok != d {
		return fmt.Errorf("%s: want a JSON object, got %s", what, tokenKind(tok))
	}
	return nil
}

// objectKey reads the next object key.
func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", unexpectedEOF(err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("want an object key, got %s", tokenKind(tok))
	}
	return key, nil
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF: a body that ends before its JSON is
// complete was truncated (json.Decoder.Token reports a clean io.EOF between tokens).
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tokenKind names a json.Token's kind for error messages without quoting its value.
func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		if t == '[' {
			return "an array"
		}
		return "a closing " + t.String()
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}
