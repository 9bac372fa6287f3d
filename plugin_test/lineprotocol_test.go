package plugin_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
)

// idCounts is how many times each event_id was seen, per stream_type tag.
type idCounts map[string]map[string]int

// fileOutput is what an [[outputs.file]] wrote: the event_id counts, the lines
// that did not parse (a Telegraf killed in the middle of a write leaves a torn line),
// and the plugin's self-metrics (measurement internal_box_events), which are no events.
type fileOutput struct {
	counts      idCounts
	lines       int
	badLines    []string
	selfMetrics []telegraf.Metric
}

// readFileOutput parses the complete lines of an outputs.file file with Telegraf's
// own influx parser. A missing file is an empty output; a last line without its
// newline is still being written and is left for the next read.
func readFileOutput(t *testing.T, path string) fileOutput {
	t.Helper()
	out := fileOutput{counts: make(idCounts)}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out
	}
	require.NoError(t, err)
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		out.lines++
		m, err := parser.ParseLine(string(line))
		var id any
		if err == nil {
			if m.Name() == "internal_box_events" {
				out.selfMetrics = append(out.selfMetrics, m)
				continue
			}
			id, _ = m.GetField("event_id")
		}
		if id == nil || id == "" {
			out.badLines = append(out.badLines, string(line))
			continue
		}
		stream := m.Tags()["stream_type"]
		if out.counts[stream] == nil {
			out.counts[stream] = make(map[string]int)
		}
		out.counts[stream][fmt.Sprint(id)]++
	}
	return out
}

// missingIDs returns the produced ids that counts does not hold.
func missingIDs(produced []string, counts map[string]int) []string {
	var out []string
	for _, id := range produced {
		if counts[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// allPresent is a waitFor condition: every produced id of every stream is in counts.
func allPresent(produced map[string][]string, counts func() (idCounts, error)) func() (bool, string) {
	return func() (bool, string) {
		got, err := counts()
		if err != nil {
			return false, err.Error()
		}
		for _, stream := range bothStreams {
			if miss := missingIDs(produced[stream], got[stream]); len(miss) > 0 {
				return false, fmt.Sprintf("%s: %d of %d produced events missing (e.g. %v)",
					stream, len(miss), len(produced[stream]), first(miss, 3))
			}
		}
		return true, ""
	}
}

// requireExactlyOnce checks that counts holds every produced id exactly once and
// nothing else; what names the output in the messages.
func requireExactlyOnce(t *testing.T, what, stream string, produced []string, counts map[string]int) {
	t.Helper()
	require.NotEmpty(t, produced, "%s: the simulated Box produced nothing on %s", what, stream)
	var repeated, unexpected []string
	want := make(map[string]bool, len(produced))
	for _, id := range produced {
		want[id] = true
		if counts[id] > 1 {
			repeated = append(repeated, fmt.Sprintf("%s×%d", id, counts[id]))
		}
	}
	for id := range counts {
		if !want[id] {
			unexpected = append(unexpected, id)
		}
	}
	slices.Sort(unexpected)
	missing := missingIDs(produced, counts)
	if len(missing)+len(repeated)+len(unexpected) > 0 {
		t.Fatalf("%s, %s stream, %d events produced: %d missing %v; %d written more than once %v; %d never produced %v",
			what, stream, len(produced), len(missing), first(missing, 10), len(repeated), first(repeated, 10),
			len(unexpected), first(unexpected, 10))
	}
}

// repeats sums the extra copies in counts: lines an output wrote more than once.
func repeats(counts map[string]int) (lines, extra int) {
	for _, n := range counts {
		lines += n
		extra += n - 1
	}
	return lines, extra
}

func first(ids []string, n int) []string {
	return ids[:min(n, len(ids))]
}
