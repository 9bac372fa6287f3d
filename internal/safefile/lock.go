package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// ErrLocked is matched (with errors.Is) by the error Acquire returns when
// another instance, in this process or another, holds the file's lock.
var ErrLocked = errors.New("file is locked by another instance")

// lockSuffix names the sidecar that carries the lock. The file itself cannot
// carry it: WriteAtomic replaces the file's inode, and a lock on the old
// inode would not stop an instance that opens the new one.
const lockSuffix = ".lock"

// maxSymlinks bounds the resolution of a chain of dangling symlinks (the
// limit Linux applies to a path lookup).
const maxSymlinks = 40

// Lock says that this instance owns a file. It is an advisory lock on the
// sidecar file path + ".lock": it keeps out every other instance that calls
// Acquire for the same file, and nothing else. The operating system drops
// it when the process exits, however it exits.
type Lock struct {
	path     string // the owned file, absolute, symlinks resolved
	lockPath string

	mu sync.Mutex
	f  *os.File // the locked sidecar; nil once released
}

// Acquire takes the lock on path without waiting. path is made absolute and
// its symlinks are resolved (those of its directory if path does not exist
// yet), so two spellings of one file take the same lock. The sidecar
// path + ".lock" is created with mode 0600 if missing and is never deleted:
// deleting it would let a second instance lock a new sidecar while the first
// still holds the old one.
//
// The lock conflicts with every other Acquire of the same file, by another
// process or by this one (flock(2) on Unix, LockFileEx on Windows, both
// per open file). If it is held, the error wraps ErrLocked and names the
// file and its lock file.
func Acquire(path string) (*Lock, error) {
	resolved, err := resolve(path)
	if err != nil {
		return nil, err
	}
	lockPath := resolved + lockSuffix
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file for %s: %w", resolved, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errHeld) {
			return nil, &lockedError{path: resolved, lockPath: lockPath}
		}
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	return &Lock{path: resolved, lockPath: lockPath, f: f}, nil
}

// Path returns the owned file's path as resolved by Acquire (absolute,
// symlinks resolved). Read and WriteAtomic this path, not the spelling given
// to Acquire: replacing a symlink would cut it from its target.
func (l *Lock) Path() string {
	if l == nil {
		return ""
	}
	return l.path
}

// Release gives the file up. It may be called more than once and on a nil
// Lock; only the first call on a held lock does anything.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Closing the last descriptor of the open file drops the lock; the
	// explicit unlock only makes that independent of descriptors a child
	// process might have inherited.
	uerr := unlockFile(f)
	if err := f.Close(); err != nil {
		return fmt.Errorf("releasing %s: %w", l.lockPath, err)
	}
	if uerr != nil {
		return fmt.Errorf("releasing %s: %w", l.lockPath, uerr)
	}
	return nil
}

// lockedError reports a lock held elsewhere; it unwraps to ErrLocked.
type lockedError struct {
	path, lockPath string
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("%s is in use by another instance (lock file %s is held)", e.path, e.lockPath)
}

func (*lockedError) Unwrap() error { return ErrLocked }

// resolve returns path made absolute with its symlinks resolved. For a path
// that does not exist yet, a dangling symlink is followed to where its
// target would be, and otherwise the directory is resolved and the name
// kept, so the file's later creation does not change its spelling.
func resolve(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	for range maxSymlinks {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolving %s: %w", path, err)
		}
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			target, rerr := os.Readlink(p)
			if rerr != nil {
				return "", fmt.Errorf("resolving %s: %w", path, rerr)
			}
			if !filepath.IsAbs(target) {
				// Relative to the link's directory as it really is: with
				// "..", a lexical join would go wrong under a symlinked dir.
				dir, derr := filepath.EvalSymlinks(filepath.Dir(p))
				if derr != nil {
					return "", fmt.Errorf("resolving the directory of %s: %w", path, derr)
				}
				target = filepath.Join(dir, target)
			}
			p = target
			continue
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", fmt.Errorf("resolving the directory of %s: %w", path, err)
		}
		return filepath.Join(dir, filepath.Base(p)), nil
	}
	return "", fmt.Errorf("resolving %s: too many levels of symbolic links", path)
}
