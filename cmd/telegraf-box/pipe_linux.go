package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdoutPipeSize is the pipe buffer asked for when stdout is a pipe (inputs.execd's is): the
// default 64 KiB holds about one write of a page's lines, so on a backlog the process blocks
// on nearly every write until Telegraf read the previous one, and both sides wake each other
// for every page. 1 MiB is Linux's default limit for an unprivileged process
// (/proc/sys/fs/pipe-max-size).
const stdoutPipeSize = 1 << 20

// growPipe asks for a larger buffer on f when it is a pipe. It is best effort: a file, a
// terminal, or a lower system limit leave f as it is.
func growPipe(f *os.File) {
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, stdoutPipeSize) //nolint:errcheck // best effort, see above
}
