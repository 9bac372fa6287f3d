package plugin_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/plugins/parsers/influx"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// influxV2 is an InfluxDB 2 write endpoint (POST /api/v2/write) that refuses every
// batch holding one of the refused event ids the way InfluxDB 2 refuses a point
// beyond the bucket's retention or with a field of another type: 422 (InfluxDB writes
// the batch's other points, a partial write; this one only counts the refusals).
// Telegraf's outputs.influxdb_v2 then rejects the whole batch for good ("will be
// dropped").
type influxV2 struct {
	mu      sync.Mutex
	refused map[string]bool
	refusal int            // 422 answers
	written map[string]int // box_events points written, by event_id
}

func startInfluxV2(t *testing.T, refused ...string) (*influxV2, string) {
	t.Helper()
	db := &influxV2{refused: make(map[string]bool), written: make(map[string]int)}
	for _, id := range refused {
		db.refused[id] = true
	}
	srv := httptest.NewServer(http.HandlerFunc(db.write))
	t.Cleanup(srv.Close)
	return db, srv.URL
}

func (db *influxV2) write(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/api/v2/write" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	parser := &influx.Parser{}
	if err := parser.Init(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	dropped := 0
	ids := make([]string, 0, bytes.Count(body, []byte("\n"))+1)
	for line := range bytes.Lines(body) {
		m, err := parser.ParseLine(string(bytes.TrimSpace(line)))
		if err != nil || m.Name() != "box_events" {
			continue
		}
		id, _ := m.GetField("event_id")
		if db.refused[fmt.Sprint(id)] {
			dropped++
		}
		ids = append(ids, fmt.Sprint(id))
	}
	if dropped == 0 {
		for _, id := range ids {
			db.written[id]++
		}
	}
	if dropped > 0 {
		db.refusal++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"code":"unprocessable entity","message":"failure writing points to database: `+
			`partial write: points beyond retention policy dropped=%d"}`, dropped)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func influxV2OutputTable(url string) string {
	return fmt.Sprintf("[[outputs.influxdb_v2]]\n  urls = [%s]\n  token = \"token\"\n  organization = \"org\"\n"+
		"  bucket = \"box\"\n  content_encoding = \"identity\"\n  timeout = \"5s\"\n", tomlString(url))
}

// TestIntegrationRefusedEventIsReported: compiled into Telegraf with
// outputs.influxdb_v2, InfluxDB 2 refuses an event for good (422: the point is older
// than the bucket's retention, as in a backfill further back than it, or a field
// changed type) and Telegraf drops the batch as rejected, logging that the metrics
// "will be dropped". The plugin cannot tell this from a full buffer (both are a
// rejection), so it reads the page again and again and writes nothing after it. That
// was one warning suggesting a full buffer, then nothing; the input must say that the
// stream stays on that page.
func TestIntegrationRefusedEventIsReported(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})
	sim.EmitEnterprise(100)
	refused := producedIDs(sim)[enterpriseStream][10]
	db, url := startInfluxV2(t, refused)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	stream := streamConfig{simURL: sim.URL(), stream: enterpriseStream, stateFile: filepath.Join(dir, "box.state")}
	argv := writeCompiledInConfigWith(t, dir, agentConfig{statefile: filepath.Join(dir, "agent.state")}, runner,
		[]streamConfig{stream}, influxV2OutputTable(url))
	proc := startProcess(t, "telegrafrun", logPath, argv...)

	reported := regexp.MustCompile(`W! \[inputs\.box_events\] The outputs did not accept the page at position \S+ of the ` +
		enterpriseStream + ` stream 6 times in a row.*nothing after it is written before`)
	waitFor(t, 2*time.Minute, "the input says the output keeps refusing the page", func() (bool, string) {
		for _, line := range readLog(t, logPath) {
			if reported.MatchString(line) {
				return true, ""
			}
		}
		db.mu.Lock()
		defer db.mu.Unlock()
		return false, fmt.Sprintf("no such warning after %d refusals", db.refusal)
	})
	proc.stop(t)
	requireNoCrash(t, logPath)
}

// TestIntegrationRefusedEventIsSkipped: as above, InfluxDB 2 refuses one event for
// good, here in the middle of a backlog. The stream used to stay on the refused
// event's page for ever (nothing after it was ever written, and lost once Box's
// retention passed); now the page is read again in parts written alone, the refused
// event is isolated and, refused alone while the events after it are written,
// skipped with an error naming it. Every other event reaches InfluxDB, and the
// stream goes on with events produced afterwards.
func TestIntegrationRefusedEventIsSkipped(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	t.Parallel() // mostly waiting out the rewind backoff: alongside the other such tests
	seed, _ := testSeed(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed})
	sim.EmitEnterprise(60)
	refused := producedIDs(sim)[enterpriseStream][23]
	db, url := startInfluxV2(t, refused)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	stream := streamConfig{simURL: sim.URL(), stream: enterpriseStream, stateFile: filepath.Join(dir, "box.state"), pageSize: 10}
	argv := writeCompiledInConfigWith(t, dir, agentConfig{statefile: filepath.Join(dir, "agent.state")}, runner,
		[]streamConfig{stream}, influxV2OutputTable(url))
	proc := startProcess(t, "telegrafrun", logPath, argv...)

	missing := func() []string {
		db.mu.Lock()
		defer db.mu.Unlock()
		var ids []string
		for _, id := range producedIDs(sim)[enterpriseStream] {
			if id != refused && db.written[id] == 0 {
				ids = append(ids, id)
			}
		}
		return ids
	}
	waitFor(t, 6*time.Minute, "every event but the refused one written", func() (bool, string) {
		m := missing()
		db.mu.Lock()
		defer db.mu.Unlock()
		return len(m) == 0, fmt.Sprintf("%d events not written after %d refusals", len(m), db.refusal)
	})
	reported := regexp.MustCompile(`E! \[inputs\.box_events\] .*the outputs refused event ` + regexp.QuoteMeta(refused) +
		` \(event_type \S+, created_at \S+\) of the ` + enterpriseStream + ` stream for good.*read the stream from position \d+`)
	waitFor(t, 30*time.Second, "the skipped event reported", func() (bool, string) {
		for _, line := range readLog(t, logPath) {
			if reported.MatchString(line) {
				return true, ""
			}
		}
		return false, "no such error"
	})

	// The stream goes on.
	sim.EmitEnterprise(15)
	waitFor(t, time.Minute, "the events produced afterwards written", func() (bool, string) {
		m := missing()
		return len(m) == 0, fmt.Sprintf("%d events not written", len(m))
	})
	proc.stop(t)
	requireNoCrash(t, logPath)
	db.mu.Lock()
	defer db.mu.Unlock()
	require.Zero(t, db.written[refused])
	twice := 0
	for _, n := range db.written {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%d refusals; %d events written more than once (InfluxDB folds them: same point)", db.refusal, twice)
	skipped := 0
	for _, line := range readLog(t, logPath) {
		if strings.Contains(line, "the outputs refused event") {
			skipped++
		}
	}
	require.Equal(t, 1, skipped, "one error for the one refused event")
}
