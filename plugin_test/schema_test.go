package plugin_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestIntegrationDetailsFieldTypesAreStable: InfluxDB refuses a point whose field has
// another type than the same field of earlier points ("field type conflict"), and
// outputs.influxdb drops it as written. The fields made from additional_details took
// the type each event's JSON value had, and Box is not consistent from one event to the
// next: ids are numbers in some events and strings in others (collab_id, created_by.id),
// a float metadata field is written 1200 or 1249.5. The second event of each pair below
// was then lost from the database, and with InfluxDB 1.6 (which refuses the whole
// write) every other event of the output's batch. Every event must reach InfluxDB.
func TestIntegrationDetailsFieldTypesAreStable(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	sim.EmitEnterprise(20)

	// Pairs of one field in two JSON types, each pair's first event first.
	pairs := []struct{ eventType, first, second string }{
		{"TASK_ASSIGNMENT_CREATE", `{"task_assignment":{"id":4433221}}`, `{"task_assignment":{"id":"4433222"}}`},
		{"METADATA_INSTANCE_UPDATE", `{"metadata":{"amount":1200}}`, `{"metadata":{"amount":1249.5}}`},
		{"SIGN_DOCUMENT_COMPLETED", `{"sign_request":{"is_document_preparation_needed":false}}`,
			`{"sign_request":{"is_document_preparation_needed":"false"}}`},
		{"FUTURE_ENTERPRISE_ACTION", `{"file_count":3}`, `{"file_count":"3"}`},
		{"FUTURE_ENTERPRISE_ACTION", `{"object_id":42}`, `{"object_id":12345678901234567890}`},
	}
	created := time.Now().UTC().Truncate(time.Second)
	var probes []string
	for i, p := range pairs {
		for j, details := range []string{p.first, p.second} {
			id := fmt.Sprintf("5c4e0000-0000-4000-8000-%012d", 2*i+j)
			raw := fmt.Sprintf(`{"type":"event","event_id":%q,"event_type":%q,"created_at":%q,`+
				`"created_by":{"type":"user","id":"20110001","name":"Dana Ortiz","login":"dana.ortiz@example.com"},`+
				`"source":null,"ip_address":"81.2.69.160","additional_details":%s}`,
				id, p.eventType, created.Format(time.RFC3339), details)
			_, err := sim.AddRawEvent(boxsim.StreamAdminLogsStreaming, json.RawMessage(raw))
			require.NoError(t, err)
			probes = append(probes, id)
		}
	}
	sim.EmitEnterprise(20)
	produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)

	dir := t.TempDir()
	const database = "box_schema"
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, []streamConfig{{simURL: sim.URL(), stream: enterpriseStream}},
		influxOutputTable(db.url, database))
	killLeftoverChildren(t, setup.confPaths()...)
	proc := startProcess(t, "telegraf", logPath, setup.argv...)

	// Once the events after the pairs are in, nothing more comes: wait for all, then say
	// what is missing.
	var counts map[string]int
	poll(time.Minute, func() (bool, string) {
		var err error
		if counts, err = db.pointIDs(database, enterpriseStream); err != nil {
			return false, err.Error()
		}
		return len(missingIDs(produced, counts)) == 0, ""
	})
	proc.stop(t)

	var conflicts []string
	for _, line := range readLog(t, logPath) {
		if strings.Contains(line, "field type conflict") {
			conflicts = append(conflicts, line)
		}
	}
	missing := missingIDs(produced, counts)
	require.Empty(t, first(missing, 5), "%d of %d events missing from InfluxDB (%d of them the pairs'); Telegraf logged: %q",
		len(missing), len(produced), len(missingIDs(probes, counts)), first(conflicts, 3))
	require.Empty(t, conflicts)
	requireNoCrash(t, logPath)
}
