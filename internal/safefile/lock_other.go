//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package safefile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// errHeld reports that another open file holds the lock.
var errHeld = errors.New("lock held")

// lockFile fails: this platform has no lock that conflicts both between
// processes and within one (fcntl record locks belong to the process, so two
// instances in one process would not see each other), and a lock that
// silently protects nothing is worse than an error.
func lockFile(*os.File) error {
	return fmt.Errorf("file locking is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func unlockFile(*os.File) error { return nil }
