//go:build windows

package safefile

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// errHeld reports that another open file holds the lock.
var errHeld = errors.New("lock held")

// lockFile takes an exclusive LockFileEx lock on f's first byte without
// waiting. Windows locks belong to the file handle, so a second handle in
// this process conflicts too. Locking past the end of the (empty) sidecar is
// allowed and hides no content from anyone.
func lockFile(f *os.File) error {
	return control(f, func(h windows.Handle) error {
		err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return errHeld
		}
		return err
	})
}

func unlockFile(f *os.File) error {
	return control(f, func(h windows.Handle) error {
		return windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped))
	})
}

// control runs fn on f's handle without taking it out of the runtime's care.
func control(f *os.File, fn func(h windows.Handle) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(h uintptr) { ferr = fn(windows.Handle(h)) }); err != nil {
		return err
	}
	return ferr
}
