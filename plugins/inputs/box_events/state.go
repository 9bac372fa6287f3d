package box_events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/safefile"
)

// State is what the plugin persists: the committed stream position (every
// event before it reached the outputs) and the recently committed events, so
// that Box's at-least-once repeats are still dropped after a restart.
// Positions are kept as Box's exact decimal text.
type State struct {
	// ID is the plugin ID (see BoxEvents.ID) of the configuration the state
	// belongs to, and Stream describes that configuration in words. A
	// state_file written for another configuration is refused.
	ID     string `json:"id,omitempty"`
	Stream string `json:"stream,omitempty"`

	StreamType     string `json:"stream_type"`
	StreamPosition string `json:"stream_position"`
	// RecentEvents are the keys (see eventKey) of the last dedup_window
	// committed events, packed (see encodeKeys).
	RecentEvents string `json:"recent_events,omitempty"`
	// RecentEventIDs is what versions before keys saved instead; it is read,
	// never written.
	RecentEventIDs []string `json:"recent_event_ids,omitempty"`
	// NotBefore (RFC 3339) skips events created earlier: the start time or
	// the lookback a restart began from.
	NotBefore string `json:"not_before,omitempty"`
	// Backfill is set while admin_logs_streaming is being backfilled from
	// admin_logs; StreamPosition is then an admin_logs position.
	Backfill *BackfillState `json:"backfill,omitempty"`
}

// BackfillState is a backfill from admin_logs in progress.
type BackfillState struct {
	// CreatedBefore (RFC 3339) ends the admin_logs window: the backfill's start.
	CreatedBefore string `json:"created_before"`
	// HandoverPosition is the admin_logs_streaming position taken when the
	// backfill began; streaming continues from there once admin_logs is read.
	HandoverPosition string `json:"handover_position"`
}

// identity is what decides which events a configuration reads, normalised so
// that spellings of one configuration agree (ALL and all, a trailing slash,
// event types in another order or case). Its hash is the plugin ID under
// which Telegraf saves the state, and state_file records it, so the state of
// one stream is never applied to another.
type identity struct {
	parts [][2]string
}

func (b *BoxEvents) identity(s *settings) identity {
	subject := b.SubjectType + ":" + b.SubjectID
	if b.Auth == authJWT && b.SubjectID == "" {
		subject = b.SubjectType + ":" + b.JWTConfigFile
	}
	var after, before string
	if !s.after.IsZero() && s.startTime.IsZero() {
		after = s.after.UTC().Format(time.RFC3339)
	}
	if !s.before.IsZero() {
		before = s.before.UTC().Format(time.RFC3339)
	}
	return identity{parts: [][2]string{
		{"base_url", strings.ToLower(s.baseURL)},
		{"stream_type", string(s.stream)},
		{"auth", b.Auth},
		{"subject", subject},
		{"as_user", b.AsUser},
		{"event_types", strings.Join(s.eventTypes, ",")},
		{"created_after", after},
		{"created_before", before},
		{"start_position", s.startText()},
	}}
}

// id hashes the identity.
func (id identity) id() string {
	h := sha256.New()
	h.Write([]byte("inputs.box_events"))
	for _, p := range id.parts {
		h.Write([]byte{0})
		h.Write([]byte(p[0]))
		h.Write([]byte{'='})
		h.Write([]byte(p[1]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// String describes the identity for messages; it holds no secret.
func (id identity) String() string {
	var sb strings.Builder
	for _, p := range id.parts {
		if p[1] == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(p[0])
		sb.WriteByte('=')
		sb.WriteString(p[1])
	}
	return sb.String()
}

// stateWriteEvery spaces state_file writes: a commit marks the state dirty,
// and it is written at once if the last write is that old, else at the next
// tick (and at Stop). A fast stream then does not write and fsync its state
// hundreds of times a second; a crash replays at most a second more.
const stateWriteEvery = time.Second

// stateFile is the optional state_file: written atomically (mode 0600) after
// commits, at most every stateWriteEvery, and owned by one plugin instance,
// which holds its lock from Init to Stop.
type stateFile struct {
	path string
	mu   sync.Mutex // serialises writes and guards the fields below
	lock *safefile.Lock
	// dirty is set when a commit was not written yet, or its write failed
	// (it is tried again at the next tick); written is when the file was
	// last written or tried. failing is set from a failed write to the next
	// one that works: a lasting failure (a full disk) is reported once.
	dirty   bool
	written time.Time
	failing bool
}

// openStateFile takes the state file's lock and reads it. A missing file is
// not an error (the state is nil); one locked by another instance,
// unreadable or corrupt one is, naming the file. The file is read and
// written at the path the lock resolved: a symlink (to a persistent volume,
// say) is followed, never replaced.
func openStateFile(path string) (*stateFile, *State, error) {
	lock, err := safefile.Acquire(path)
	if err != nil {
		return nil, nil, fmt.Errorf("state_file %q: %w", path, err)
	}
	f := &stateFile{path: lock.Path(), lock: lock}
	st, err := f.read()
	if err != nil {
		f.close()
		return nil, nil, err
	}
	return f, st, nil
}

func (f *stateFile) read() (*State, error) {
	buf, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state_file %q: %w", f.path, err)
	}
	var st State
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("state_file %q is corrupt (remove it to start from start_position): %w", f.path, err)
	}
	if st.StreamPosition == "" && !st.awaitingCurrent() {
		return nil, fmt.Errorf("state_file %q holds no stream_position (remove it to start from start_position)", f.path)
	}
	return &st, nil
}

// awaitingCurrent reports a state saved while on_invalid_position "now" waited for Box's
// current position: no position, but written by a running plugin (it has the ID). The agent's
// statefile gets it from GetState, and builds before 2026-12-07 wrote it to state_file too
// (writeLocked no longer does). It resumes at Box's current position, with its recent events.
func (st State) awaitingCurrent() bool {
	return st.StreamPosition == "" && st.ID != ""
}

// resumeAt describes where a saved state resumes, for the log.
func (st State) resumeAt() string {
	if st.awaitingCurrent() {
		return "Box's current position (the saved state was waiting for it)"
	}
	return "position " + st.StreamPosition
}

// save writes the state now when force is set or the last write is
// stateWriteEvery old, and otherwise marks it for flush. state is called only
// when writing.
func (f *stateFile) save(state func() State, now time.Time, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !force && now.Sub(f.written) < stateWriteEvery {
		f.dirty = true
		return nil
	}
	return f.writeLocked(state(), now)
}

// flush writes the state if a commit was not written yet.
func (f *stateFile) flush(state func() State, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty {
		return nil
	}
	return f.writeLocked(state(), now)
}

// writeLocked replaces the file with st. After close (the plugin stopped)
// the lock is taken again for the write, so that a delivery notice arriving
// after Stop (the outputs' last flush) is still saved, unless another
// instance owns the file by then. A write that fails leaves the state dirty,
// so the next tick (or Stop) tries again; only the first failure of a run is
// reported.
func (f *stateFile) writeLocked(st State, now time.Time) error {
	if st.StreamPosition == "" {
		// on_invalid_position "now" is asking Box for the current position:
		// the file keeps the last one (read's rule) until it is known.
		f.dirty = true
		return nil
	}
	buf, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f.written = now
	if f.lock == nil {
		lock, err := safefile.Acquire(f.path)
		if err != nil {
			return fmt.Errorf("not saving state_file %q after stop: %w", f.path, err)
		}
		defer lock.Release() //nolint:errcheck // releasing a lock only closes its descriptor
	}
	if err := safefile.WriteAtomic(f.path, buf, 0o600); err != nil {
		f.dirty = true
		if f.failing {
			return nil
		}
		f.failing = true
		return fmt.Errorf("writing state_file %q (trying again every %s): %w", f.path, stateWriteEvery, err)
	}
	f.dirty, f.failing = false, false
	return nil
}

// close releases the file's lock.
func (f *stateFile) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lock != nil {
		f.lock.Release() //nolint:errcheck // releasing a lock only closes its descriptor
		f.lock = nil
	}
}
