package boxevents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	// Limit is the page size the page was asked for: EventsQuery.Limit (Box's 100 when 0), or
	// less when a page above Config.MaxBodyBytes was asked again for fewer events. A page of
	// Limit entries is full.
	Limit int
	// Date is when Box answered, by Box's clock (the Date header, to the second); zero if the
	// answer had none. The local clock may be minutes off Box's.
	Date time.Time

	text []byte // the storage of the entries' strings, until TakeText
}

// PageText is the storage of a page's strings, taken from the page with TakeText.
type PageText struct{ b []byte }

// TakeText returns the storage of the page's strings, for Client.RecycleText. The page's
// events and every string taken from them stay valid until it is given back.
func (page *Page) TakeText() PageText {
	t := PageText{b: page.text}
	page.text = nil
	return t
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
	// Ahead, if not nil, is called while the page decodes, before its entries, with its
	// next_stream_position and chunk_size, when the answer gives both before its entries (Box
	// puts them first): the caller may ask for the next page while this one decodes. It is a
	// hint: the page returned says what counts (a key Box repeats after the entries, a
	// request retried, which calls it again, or a decoding error may change or void it). It
	// runs on the goroutine calling Events, in the middle of decoding: it must return quickly.
	Ahead func(next StreamPosition, chunkSize int)
}

// rfc3339Offset is RFC 3339 with a numeric offset ("+00:00" rather than "Z"), as Box's SDKs send it.
const rfc3339Offset = "2006-01-02T15:04:05-07:00"

// Events fetches one page of events. Requests that fail with 429, 5xx (except 501), a network error
// or a truncated body are retried with the same stream position, up to Config.MaxAttempts. A page
// above Config.MaxBodyBytes is asked again from the same position with half the limit, down to
// one event: only a single event above the bound is an error.
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

	for {
		if limit > 0 {
			v.Set("limit", strconv.Itoa(limit))
		}
		sizeHint := limit
		if sizeHint <= 0 {
			sizeHint = defaultLimit
		}
		page, err := c.eventsPage(ctx, c.apiCall(http.MethodGet, v, strings.Join(params, ", ")), sizeHint, q.Ahead)
		if err == nil {
			page.Limit = sizeHint
			return page, nil
		}
		if sizeHint <= 1 || !isBodyTooLarge(err) {
			return nil, err
		}
		// The page is above the body bound (events with large additional_details): ask again
		// from the same position for fewer events, which Box serves from the same start.
		limit = sizeHint / 2
	}
}

// eventsPage fetches the page of cl, decoding it for about sizeHint entries.
func (c *Client) eventsPage(ctx context.Context, cl *call, sizeHint int, ahead func(StreamPosition, int)) (*Page, error) {
	var page *Page
	err := c.do(ctx, cl, func(r io.Reader) error {
		scratch := c.scratch.get()
		defer c.scratch.put(scratch)
		body, err := readBody(r, &scratch.body)
		if err != nil {
			return err
		}
		page, err = decodePageInto(body, sizeHint, c.keepJSON, scratch, ahead)
		return err
	})
	if err != nil {
		return nil, err
	}
	page.Date = cl.date
	return page, nil
}

// Recycle gives back the room of a page's entries for the pages that follow, once the caller
// is done with the page: page.Entries must not be read after, and no Event of it must be kept
// (strings taken from events stay valid: they are the page's text, which is not reused).
// Calling it is optional; a page not given back is left to the garbage collector. It saves
// allocating and zeroing a page's entries for each page (about 0.8 KB an event).
func (c *Client) Recycle(page *Page) {
	if page == nil {
		return
	}
	events := page.Entries
	page.Entries = nil
	c.scratch.putEvents(events)
}

// RecycleText gives back the storage of a page's strings (Page.TakeText) for the pages that
// follow. Only the last user of the page may call it, once no string of the page is used any
// more: not its events', not any taken from them, which a later page would overwrite. Calling it
// is optional; text not given back is left to the garbage collector. It saves allocating,
// zeroing and collecting a page's text for each page (about 0.6 KB an event).
func (c *Client) RecycleText(t PageText) {
	c.scratch.putText(t.b)
}

// readBody reads r to its end into buf's storage, growing it as needed, and returns the bytes
// read. A read error is returned as it is (a truncated body is io.ErrUnexpectedEOF).
func readBody(r io.Reader, buf *[]byte) ([]byte, error) {
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return b, nil
		}
		if err != nil {
			*buf = b
			return nil, err
		}
	}
}

// pageScratch is what decoding one page needs and nothing keeps afterwards: the body's bytes
// and the events' spans (the decoded text is in the page's own arena). events is room for a
// page's entries that a caller gave back with Recycle; a decoded page takes it with it.
type pageScratch struct {
	body   []byte
	spans  []eventSpans
	events []Event
	text   []byte // room for the page's text, given back with RecycleText
}

// scratchPool keeps the scratch of the last pages for the next ones. Unlike a sync.Pool it is
// not emptied by the garbage collector: on a backlog a page is read every few milliseconds and
// the collector runs about as often, so a sync.Pool handed out a new buffer most of the time,
// which then grew to a page's size again, all of it zeroed, and later handed back to the OS by
// the scavenger (about a fifth of the execd binary's CPU on a backlog, measured with pprof).
// It holds at most maxScratch entries; a body buffer that grew beyond maxPooledBody (an odd,
// huge page), or a large one that pages no longer fill (see keepRoom), is dropped rather than
// kept for ever.
type scratchPool struct {
	mu     sync.Mutex
	free   []*pageScratch
	events [][]Event // entries given back with Recycle, cleared, at most maxScratch
	texts  [][]byte  // text given back with RecycleText, at most maxPooledTexts
}

const (
	// maxScratch is how many pages' scratch are kept: a stream decodes one page at a time.
	maxScratch = 2
	// maxPooledBody is the largest body buffer kept: a full page of 500 events is well below it.
	maxPooledBody = 4 << 20
	// maxPooledSpans is the most spans kept, and the most entries of a page given back: those
	// of two full pages (about 0.8 MiB of spans).
	maxPooledSpans = 2 * MaxLimit
	// maxPooledTexts is how many pages' text storage is kept: the text of a page comes back once
	// the page's last metric was written, so a few pages later, and in the order read.
	maxPooledTexts = 4
	// pooledRoomFloor is the size up to which a body buffer or a page's text storage is kept
	// whatever the page used: a full page of usual events fits in it.
	pooledRoomFloor = 1 << 20
)

// keepRoom reports whether a buffer of capacity c, of which the page just done used n bytes, is
// kept for the next pages: not beyond maxPooledBody, and beyond pooledRoomFloor only while pages
// fill a quarter of it. A burst of large pages grows the buffers; once pages are usual again the
// room is given back rather than kept for ever (up to 24 MiB over the pooled buffers).
func keepRoom(c, n int) bool {
	return c <= maxPooledBody && (c <= pooledRoomFloor || c <= 4*n)
}

func (sp *scratchPool) get() *pageScratch {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s := popLast(&sp.free)
	if s == nil {
		s = &pageScratch{body: make([]byte, 0, 64<<10)}
	}
	s.events = popLast(&sp.events)
	s.text = popLast(&sp.texts)
	return s
}

// putText keeps a page's text storage for a later page, unless it is more than pages need
// (keepRoom).
func (sp *scratchPool) putText(t []byte) {
	if cap(t) == 0 || !keepRoom(cap(t), len(t)) {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	pushBounded(&sp.texts, t[:0], maxPooledTexts)
}

// putEvents keeps entries for a later page. They are cleared first: nothing of the page they
// held (its text) stays alive through them.
func (sp *scratchPool) putEvents(events []Event) {
	if cap(events) == 0 || cap(events) > maxPooledSpans {
		return
	}
	clear(events)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	pushBounded(&sp.events, events[:0], maxScratch)
}

// popLast removes and returns the last element of a free list, or the zero value when it is
// empty; the slot is cleared so that the list keeps nothing alive.
func popLast[T any](list *[]T) T {
	var v T
	if n := len(*list); n > 0 {
		v = (*list)[n-1]
		clear((*list)[n-1:])
		*list = (*list)[:n-1]
	}
	return v
}

// pushBounded appends v to a free list unless it already holds limit elements.
func pushBounded[T any](list *[]T, v T, limit int) {
	if len(*list) < limit {
		*list = append(*list, v)
	}
}

func (sp *scratchPool) put(s *pageScratch) {
	if !keepRoom(cap(s.body), len(s.body)) {
		return
	}
	s.spans = s.spans[:0] // offsets only: nothing of the page is kept alive
	s.events = nil        // the decoded page took them (or they go back with Recycle)
	s.text = nil          // likewise
	if cap(s.spans) > maxPooledSpans {
		s.spans = nil // a page far longer than asked for: not kept for ever either
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	pushBounded(&sp.free, s, maxScratch)
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF: a body that ends before its JSON is
// complete was truncated (json.Decoder.Token reports a clean io.EOF between tokens).
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
