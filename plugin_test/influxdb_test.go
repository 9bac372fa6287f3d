package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// influxDB is a test's own InfluxDB 1.x, run by scripts/influxdb.sh in the test's temp
// dir. The shared INFLUXDB_URL instance cannot be used: the delivery tests stop
// InfluxDB mid-run, and it must come back on the same port with its data.
type influxDB struct {
	script string
	dir    string
	url    string
}

// startInfluxDB starts the instance and stops it when the test ends (before t.TempDir
// is removed: cleanups run last-in first-out).
func startInfluxDB(t *testing.T) *influxDB {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "scripts", "influxdb.sh"))
	require.NoError(t, err)
	db := &influxDB{script: script, dir: filepath.Join(t.TempDir(), "influxdb")}
	out := db.run(t, "start", nil)
	db.url = strings.TrimSpace(out)
	_, err = url.Parse(db.url)
	require.NoError(t, err, "influxdb.sh start printed %q", out)
	t.Cleanup(func() { db.run(t, "stop", nil) })
	return db
}

// run runs `influxdb.sh <cmd> <dir>` and returns its stdout.
func (db *influxDB) run(t *testing.T, cmd string, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", db.script, cmd, db.dir)
	c.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "influxdb.sh %s %s: %s", cmd, db.dir, stderr.String())
	return string(out)
}

// stop stops influxd (SIGTERM; its data stays on disk).
func (db *influxDB) stop(t *testing.T) {
	t.Helper()
	db.run(t, "stop", nil)
}

// restart starts influxd again on the same port, where Telegraf keeps writing to.
func (db *influxDB) restart(t *testing.T) {
	t.Helper()
	u, err := url.Parse(db.url)
	require.NoError(t, err)
	out := strings.TrimSpace(db.run(t, "start", []string{"INFLUXDB_PORT=" + u.Port()}))
	require.Equal(t, db.url, out, "InfluxDB came back on another URL")
}

// influxResult is one statement's result in a /query answer.
type influxResult struct {
	Series []struct {
		Name    string            `json:"name"`
		Tags    map[string]string `json:"tags"` // GROUP BY tags
		Columns []string          `json:"columns"`
		Values  [][]any           `json:"values"` // numbers decode as json.Number
	} `json:"series"`
	Error string `json:"error"`
}

// query runs one InfluxQL statement over the HTTP API. Errors (InfluxDB down, no such
// database yet) are returned, not fatal: callers poll through outages.
func (db *influxDB) query(database, q string) (influxResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := db.url + "/query?" + url.Values{"db": {database}, "q": {q}, "epoch": {"ns"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return influxResult{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return influxResult{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Results []influxResult `json:"results"`
		Error   string         `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return influxResult{}, fmt.Errorf("%s: %s: %w", q, resp.Status, err)
	}
	switch {
	case body.Error != "":
		return influxResult{}, fmt.Errorf("%s: %s", q, body.Error)
	case len(body.Results) != 1:
		return influxResult{}, fmt.Errorf("%s: %d results", q, len(body.Results))
	case body.Results[0].Error != "":
		return influxResult{}, fmt.Errorf("%s: %s", q, body.Results[0].Error)
	}
	return body.Results[0], nil
}

// pointIDs counts the points of each event_id in stream: more than one point for
// an event means it was written twice with different timestamps or tags.
func (db *influxDB) pointIDs(database, stream string) (map[string]int, error) {
	res, err := db.query(database, fmt.Sprintf(`SELECT "event_id" FROM "box_events" WHERE "stream_type" = '%s'`, stream))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	for _, s := range res.Series {
		for _, row := range s.Values {
			id, ok := row[len(row)-1].(string)
			if len(row) != 2 || !ok {
				return nil, fmt.Errorf("unexpected row %v", row)
			}
			out[id]++
		}
	}
	return out, nil
}

// countEventIDs is SELECT COUNT(event_id): the number of points holding an event.
func (db *influxDB) countEventIDs(database, stream string) (int64, error) {
	res, err := db.query(database, fmt.Sprintf(`SELECT COUNT("event_id") FROM "box_events" WHERE "stream_type" = '%s'`, stream))
	if err != nil {
		return 0, err
	}
	if len(res.Series) == 0 {
		return 0, nil
	}
	if len(res.Series) != 1 || len(res.Series[0].Values) != 1 || len(res.Series[0].Values[0]) != 2 {
		return 0, errors.New("unexpected COUNT answer")
	}
	n, ok := res.Series[0].Values[0][1].(json.Number)
	if !ok {
		return 0, fmt.Errorf("unexpected COUNT value %v", res.Series[0].Values[0][1])
	}
	return n.Int64()
}

// eventIDs is the waitFor view of InfluxDB: event_id -> points, per stream.
func (db *influxDB) eventIDs(database string) func() (idCounts, error) {
	return func() (idCounts, error) {
		out := make(idCounts, len(bothStreams))
		for _, stream := range bothStreams {
			ids, err := db.pointIDs(database, stream)
			if err != nil {
				return nil, err
			}
			out[stream] = ids
		}
		return out, nil
	}
}
