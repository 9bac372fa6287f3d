package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestLevelWriter(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		out   string
		debug bool
	}{
		{
			name: "accumulator error through the shim logger",
			in:   "2026-11-26T19:00:00Z E! (category=,plugin=) Error in plugin: reading the all stream: boom\n",
			out:  "E! [inputs.box_events] Error in plugin: reading the all stream: boom\n",
		},
		{
			name: "attribute order varies",
			in:   "2026-11-26T19:00:00Z W! (plugin=,category=) slow\n",
			out:  "W! [inputs.box_events] slow\n",
		},
		{
			name: "prefixed logger",
			in:   "2026-11-26T19:00:00Z I! [inputs.box_events] (category=inputs,plugin=box_events) Starting\n",
			out:  "I! [inputs.box_events] Starting\n",
		},
		{
			name: "message in parentheses is kept",
			in:   "2026-11-26T19:00:00Z I! (see docs) now\n",
			out:  "I! [inputs.box_events] (see docs) now\n",
		},
		{name: "debug dropped", in: "2026-11-26T19:00:00Z D! (category=,plugin=) detail\n"},
		{name: "debug kept", in: "2026-11-26T19:00:00Z D! detail\n", out: "D! [inputs.box_events] detail\n", debug: true},
		{name: "not a log line", in: "plain text\n", out: "plain text\n"},
		{
			name: "two lines in one write",
			in:   "2026-11-26T19:00:00Z E! a\n2026-11-26T19:00:00Z I! b\n",
			out:  "E! [inputs.box_events] a\nI! [inputs.box_events] b\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &levelWriter{out: &buf, debug: tt.debug}
			n, err := w.Write([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, len(tt.in), n)
			require.Equal(t, tt.out, buf.String())
		})
	}
}

// inputs.execd stops reading stderr for good at a line above 64 KiB: a longer line is cut, at a
// UTF-8 boundary, and says so.
func TestLevelWriter_LongLineCut(t *testing.T) {
	var buf bytes.Buffer
	w := &levelWriter{out: &buf}
	in := "2026-11-26T19:00:00Z W! event \"" + strings.Repeat("é", 50<<10) + "\"\n" + "2026-11-26T19:00:00Z I! next\n"
	n, err := w.Write([]byte(in))
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	lines := strings.SplitAfter(buf.String(), "\n")
	require.Len(t, lines, 3) // the last one empty
	require.LessOrEqual(t, len(lines[0]), maxLogLine+32)
	require.True(t, strings.HasPrefix(lines[0], "W! [inputs.box_events] event \"éé"), lines[0][:64])
	require.Regexp(t, `é\.\.\. \(\d+ bytes cut\)\n$`, lines[0])
	require.True(t, utf8.ValidString(lines[0]))
	require.Equal(t, "I! [inputs.box_events] next\n", lines[1])
}
