package box_events

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// eventKey identifies an event by a 64-bit FNV-1a hash of its id: eight bytes instead of the
// id (36 to 40 characters), and no string that keeps a page's text alive. Two ids sharing a
// key in a window of ten thousand is a chance of about one in 10^11.
type eventKey uint64

// keyOf returns the key of an event id.
func keyOf(id string) eventKey {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	return eventKey(h)
}

// idWindow remembers the keys of the most recent events, up to a fixed capacity, and forgets
// the oldest first. Box's user streams and admin_logs_streaming are at-least-once: the same
// event can come back at a later stream position, so every event emitted recently is kept to
// drop such repeats. It also holds the keys of events read but not committed yet (pending):
// those count as seen too, and are either committed into the window or forgotten. One set
// holds both, so that an event costs one lookup to check, one insert when read and one
// delete when the window forgets it. Memory is bounded by the capacity plus the pending
// events (bounded by the tracker's window); lookups and inserts are O(1).
type idWindow struct {
	ring []eventKey
	next int // index in ring that the next insert overwrites
	full bool
	set  map[eventKey]struct{} // the ring's keys and the pending ones
}

func newIDWindow(capacity int) *idWindow {
	return &idWindow{
		ring: make([]eventKey, capacity),
		set:  make(map[eventKey]struct{}, capacity),
	}
}

// Contains reports whether k is in the window or pending.
func (w *idWindow) Contains(k eventKey) bool {
	_, ok := w.set[k]
	return ok
}

// Add inserts k into the window, evicting the oldest key when the window is full. Adding a
// key that is already present (or pending) does nothing.
func (w *idWindow) Add(k eventKey) {
	if w.Contains(k) {
		return
	}
	w.set[k] = struct{}{}
	w.Commit(k)
}

// AddPending records k as read but not committed: Contains reports it until Commit or Forget.
// k must not be present.
func (w *idWindow) AddPending(k eventKey) {
	w.set[k] = struct{}{}
}

// Commit moves the pending key k into the window, evicting the oldest key when it is full.
func (w *idWindow) Commit(k eventKey) {
	if len(w.ring) == 0 {
		delete(w.set, k)
		return
	}
	if w.full {
		delete(w.set, w.ring[w.next])
	}
	w.ring[w.next] = k
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
		w.full = true
	}
}

// Forget drops the pending key k (its event is to be read again).
func (w *idWindow) Forget(k eventKey) {
	delete(w.set, k)
}

// Len returns the number of keys in the window (not the pending ones).
func (w *idWindow) Len() int {
	if w.full {
		return len(w.ring)
	}
	return w.next
}

// Keys returns the keys from oldest to newest.
func (w *idWindow) Keys() []eventKey {
	if !w.full {
		return append([]eventKey(nil), w.ring[:w.next]...)
	}
	keys := make([]eventKey, 0, len(w.ring))
	keys = append(keys, w.ring[w.next:]...)
	return append(keys, w.ring[:w.next]...)
}

// encodeKeys packs keys for the state: base64 of their little-endian bytes, 11 characters a
// key instead of a quoted id of 40.
func encodeKeys(keys []eventKey) string {
	buf := make([]byte, 8*len(keys))
	for i, k := range keys {
		binary.LittleEndian.PutUint64(buf[8*i:], uint64(k))
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

// decodeKeys unpacks encodeKeys' text.
func decodeKeys(s string) ([]eventKey, error) {
	buf, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(buf)%8 != 0 {
		return nil, errors.New("recent_events is not a list of event keys")
	}
	keys := make([]eventKey, len(buf)/8)
	for i := range keys {
		keys[i] = eventKey(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return keys, nil
}
