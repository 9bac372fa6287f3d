// Package safefile handles files that hold a secret or a stream position:
// they are written atomically with a restrictive mode, and owned by one
// instance at a time.
//
// WriteAtomic replaces a file so that a crash leaves the old or the new
// content, never a mix. Acquire takes an exclusive, non-blocking advisory
// lock saying "this instance owns the file", so two processes (or two plugin
// instances in one process) cannot both rewrite it: a Box refresh token is
// single-use, and a stream position written by two owners goes backwards.
//
// Errors name files, never the data written.
package safefile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// WriteAtomic replaces path with data so that a crash leaves either the old
// or the new content, never a mix: a temporary file in the same directory is
// given perm, written and fsynced, renamed over path, and then the directory
// is fsynced so that the rename itself survives a power loss (skipped on
// Windows, which cannot sync a directory and does not need it for a rename).
//
// The mode is set before the data is written, so the secret is never in a
// file more open than perm and the one fsync also makes the mode durable.
// The temporary file is removed on every failure. path is replaced, not
// followed: if it may be a symlink, pass the resolved path (Lock.Path).
// Errors name files, never data.
func WriteAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = tmp.Close()
			}
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp.Name(), err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot fsync a directory
// (and does not need to for MoveFileEx), so it is skipped there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
