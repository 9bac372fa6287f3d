package box_events

// idWindow remembers the most recent event ids, up to a fixed capacity, and
// forgets the oldest first. Box's user streams and admin_logs_streaming are
// at-least-once: the same event can come back at a later stream position, so
// every id emitted recently is kept to drop such repeats. Memory is bounded by
// the capacity; lookups and inserts are O(1).
type idWindow struct {
	ring []string
	next int // index in ring that the next insert overwrites
	full bool
	set  map[string]struct{}
}

func newIDWindow(capacity int) *idWindow {
	return &idWindow{
		ring: make([]string, capacity),
		set:  make(map[string]struct{}, capacity),
	}
}

// Contains reports whether id is in the window.
func (w *idWindow) Contains(id string) bool {
	_, ok := w.set[id]
	return ok
}

// Add inserts id, evicting the oldest id when the window is full. Adding an id
// that is already present does nothing.
func (w *idWindow) Add(id string) {
	if len(w.ring) == 0 || w.Contains(id) {
		return
	}
	if w.full {
		delete(w.set, w.ring[w.next])
	}
	w.ring[w.next] = id
	w.set[id] = struct{}{}
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
		w.full = true
	}
}

// Len returns the number of ids held.
func (w *idWindow) Len() int {
	return len(w.set)
}

// IDs returns the ids from oldest to newest, for the plugin state.
func (w *idWindow) IDs() []string {
	if !w.full {
		return append([]string(nil), w.ring[:w.next]...)
	}
	ids := make([]string, 0, len(w.ring))
	ids = append(ids, w.ring[w.next:]...)
	return append(ids, w.ring[:w.next]...)
}
