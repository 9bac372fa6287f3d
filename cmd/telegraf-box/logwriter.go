package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// levelWriter receives Telegraf's log lines ("<RFC 3339 time> E! [prefix]
// message") and writes them without the timestamp, so that every line starts
// with its level ("E! ", "W! ", "I! ", "D! ", "T! "). That is what
// inputs.execd looks for to log a child's stderr at the right level; with the
// timestamp first it logs every line as an error. Debug and trace lines are
// dropped unless debug is set. Nothing is buffered beyond one line. A line
// longer than maxLogLine is cut (see there).
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
		line = tidyLine(stripTimestamp(line))
		if !w.debug && (bytes.HasPrefix(line, []byte("D! ")) || bytes.HasPrefix(line, []byte("T! "))) {
			continue
		}
		line = cutLine(line)
		if _, err := w.out.Write(line); err != nil {
			return n, err
		}
	}
	return n, nil
}

// maxLogLine bounds a line written to stderr. inputs.execd reads stderr a line at a time with
// a 64 KiB bound (bufio.Scanner's); a longer line (an error quoting what an odd Box answer held:
// an event id, a position of 100 KiB) makes it stop reading stderr for good, and telegraf-box
// then blocks in its logger, the stream it reads with it, once the pipe is full.
const maxLogLine = 8 << 10

// cutLine returns line cut to maxLogLine bytes at a UTF-8 boundary, saying how much was cut,
// and still ending in a newline if it did.
func cutLine(line []byte) []byte {
	if len(line) <= maxLogLine {
		return line
	}
	n := len(line)
	nl := line[n-1] == '\n'
	cut := maxLogLine
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	out := append(line[:cut:cut], fmt.Sprintf("... (%d bytes cut)", n-cut)...)
	if nl {
		out = append(out, '\n')
	}
	return out
}

// source names the plugin in every line, as Telegraf itself would.
const source = "[inputs.box_events] "

// tidyLine replaces what Telegraf's redirected logger writes after the level
// (an optional "[prefix]" and an attribute group such as
// "(category=,plugin=)", in random order) with the plugin's name, so lines
// read "E! [inputs.box_events] message".
func tidyLine(line []byte) []byte {
	if len(line) < 3 || line[1] != '!' || line[2] != ' ' {
		return line
	}
	rest := line[3:]
	if bytes.HasPrefix(rest, []byte("[")) {
		if i := bytes.Index(rest, []byte("] ")); i >= 0 {
			rest = rest[i+2:]
		}
	}
	if bytes.HasPrefix(rest, []byte("(")) {
		if i := bytes.Index(rest, []byte(") ")); i >= 0 && bytes.IndexByte(rest[:i], '=') >= 0 {
			rest = rest[i+2:]
		}
	}
	out := make([]byte, 0, 3+len(source)+len(rest))
	out = append(out, line[:3]...)
	out = append(out, source...)
	return append(out, rest...)
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
