//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package safefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// errHeld reports that another open file holds the lock.
var errHeld = errors.New("lock held")

// lockFile takes an exclusive flock(2) on f without blocking. flock locks
// belong to the open file description, not to the process (unlike fcntl
// record locks), so a second open of the same file in this process conflicts
// too, which keeps two instances in one process apart.
func lockFile(f *os.File) error {
	return control(f, func(fd int) error {
		for {
			err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EWOULDBLOCK):
				return errHeld
			}
			return err
		}
	})
}

func unlockFile(f *os.File) error {
	return control(f, func(fd int) error { return unix.Flock(fd, unix.LOCK_UN) })
}

// control runs fn on f's descriptor. SyscallConn rather than Fd: Fd would
// switch the descriptor to blocking mode and hand out a number the runtime
// may close under us.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
