package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// levelWriter receives Telegraf's log lines ("<RFC 3339 time> E! [prefix]
// message") and writes them without the timestamp, so that every line starts
// with its level ("E! ", "W! ", "I! ", "D! ", "T! "). That is what
// inputs.execd looks for to log a child's stderr at the right level; with the
// timestamp first it logs every line as an error. Debug and trace lines are
// dropped unless debug is set. Nothing is buffered beyond one line.
type levelWriter struct {
	mu    sync.Mutex
	out   io.Writer
	debug bool
}

func (w *levelWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i+1], p[i+1:]
		} else {
			p = nil
		}
		line = stripTimestamp(line)
		if !w.debug && (bytes.HasPrefix(line, []byte("D! ")) || bytes.HasPrefix(line, []byte("T! "))) {
			continue
		}
		if _, err := w.out.Write(line); err != nil {
			return n, err
		}
	}
	return n, nil
}

// stripTimestamp drops a leading timestamp field when a level indicator
// follows it.
func stripTimestamp(line []byte) []byte {
	i := bytes.IndexByte(line, ' ')
	if i < 0 || len(line) < i+4 {
		return line
	}
	rest := line[i+1:]
	if rest[1] == '!' && rest[2] == ' ' && strings.IndexByte("EWIDT", rest[0]) >= 0 {
		return rest
	}
	return line
}
