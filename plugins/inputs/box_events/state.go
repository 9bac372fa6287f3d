package box_events

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// State is what the plugin persists: the committed stream position (every
// event before it reached the outputs) and the ids of recently committed
// events, so that Box's at-least-once repeats are still dropped after a
// restart. Positions are kept as Box's exact decimal text.
type State struct {
	StreamType     string   `json:"stream_type"`
	StreamPosition string   `json:"stream_position"`
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

// readStateFile loads a state file. A missing file is not an error (ok is
// false); an unreadable or corrupt one is, naming the file.
func readStateFile(path string) (st State, ok bool, err error) {
	buf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("reading state_file %q: %w", path, err)
	}
	if err := json.Unmarshal(buf, &st); err != nil {
		return State{}, false, fmt.Errorf("state_file %q is corrupt (remove it to start from start_position): %w", path, err)
	}
	if st.StreamPosition == "" {
		return State{}, false, fmt.Errorf("state_file %q holds no stream_position (remove it to start from start_position)", path)
	}
	return st, true, nil
}

// writeStateFile replaces path atomically: a temporary file in the same
// directory is written, synced and renamed over it, then the directory is
// synced, so a crash leaves either the old or the new state, never a torn one.
func writeStateFile(path string, st State) error {
	buf, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	if _, err := tmp.Write(buf); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing state_file %q: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() //nolint:errcheck // best effort: not every file system can sync a directory
		d.Close()
	}
	return nil
}

// resumable reports whether a next_stream_position can be committed: Box's
// positions are unsigned decimal integers. Anything else ("0", "", "-1",
// "1.15e+18", text from a proxy) would make every later request fail and
// could not be restored, so the position stays where it was.
func resumable(p boxevents.StreamPosition) bool {
	return p.Usable() && positionPattern.MatchString(string(p))
}
