package plugin_test

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// failedLoginIPTag is the README's processors.converter table: the address of a
// failed login becomes a tag, so that InfluxQL can count the users failing per
// address (GROUP BY takes tags only), and only failed logins pay for the series.
const failedLoginIPTag = `[[processors.converter]]
  namepass = ["box_events"]
  [processors.converter.tagpass]
    event_type = ["FAILED_LOGIN"]
  [processors.converter.fields]
    tag = ["ip_address"]
`

// detectionScenarios says which scenario each rule of dashboards/alerts/security.yaml
// is for, and the labels its alert must carry.
var detectionScenarios = map[string]struct {
	kind   boxsim.ScenarioKind
	labels func(rep boxsim.ScenarioReport) map[string]string
}{
	"box-failed-logins-user": {boxsim.ScenarioFailedLogins, userLabel},
	"box-failed-logins-ip": {boxsim.ScenarioPasswordSpray, func(rep boxsim.ScenarioReport) map[string]string {
		return map[string]string{"ip_address": rep.IP}
	}},
	"box-mass-download":    {boxsim.ScenarioMassDownload, userLabel},
	"box-external-sharing": {boxsim.ScenarioExternalSharing, userLabel},
	"box-shield-high-risk": {boxsim.ScenarioShieldAlert, func(boxsim.ScenarioReport) map[string]string { return map[string]string{} }},
	"box-admin-grant": {boxsim.ScenarioPrivilegeEscalation, func(rep boxsim.ScenarioReport) map[string]string {
		return map[string]string{"user": rep.Actor.Login}
	}},
	"box-mass-deletion": {boxsim.ScenarioMassDeletion, userLabel},
}

func userLabel(rep boxsim.ScenarioReport) map[string]string {
	return map[string]string{"user": rep.User.Login}
}

// TestIntegrationDetections proves the security detections: eight days of the
// simulated enterprise's benign traffic, with one of each attack scenario injected
// in the last day three hours apart, go through the real pipeline (admin_logs_streaming
// → telegraf-box under a real Telegraf's inputs.execd, with the README's
// processors.converter → InfluxDB). Then every rule of dashboards/alerts/security.yaml
// is evaluated as Grafana would, every minute over the last two days: each fires on
// its own scenario, with the labels that name its user or address, and nowhere else —
// not in the benign first day, not on the other scenarios.
func TestIntegrationDetections(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSimWith(t, boxsim.Options{Seed: seed, MaxEvents: 200000})
	dir := sim.Directory()

	end := time.Now().Truncate(time.Minute)
	start := end.Add(-8 * 24 * time.Hour)
	kinds := []boxsim.ScenarioKind{
		boxsim.ScenarioFailedLogins, boxsim.ScenarioPasswordSpray, boxsim.ScenarioMassDownload,
		boxsim.ScenarioExternalSharing, boxsim.ScenarioShieldAlert, boxsim.ScenarioPrivilegeEscalation,
		boxsim.ScenarioMassDeletion,
	}
	scenarios := make([]boxsim.Scenario, 0, len(kinds))
	for i, kind := range kinds {
		scenarios = append(scenarios, boxsim.Scenario{Kind: kind, At: end.Add(-22*time.Hour + time.Duration(i)*3*time.Hour)})
	}
	rep, err := sim.EmitTraffic(boxsim.Traffic{Start: start, Duration: end.Sub(start), Scenarios: scenarios})
	require.NoError(t, err)
	t.Logf("traffic %s to %s: %d enterprise events, %d of them in %d scenarios",
		rep.Start.Format(time.RFC3339), rep.End.Format(time.RFC3339), rep.Enterprise, scenarioEvents(rep), len(rep.Scenarios))
	byKind := make(map[boxsim.ScenarioKind]boxsim.ScenarioReport, len(rep.Scenarios))
	for _, sr := range rep.Scenarios {
		byKind[sr.Scenario.Kind] = sr
	}

	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_detections"
	domains := make([]string, len(dir.Domains))
	for i, d := range dir.Domains {
		domains[i] = tomlString(d)
	}
	stream := streamConfig{
		simURL: sim.URL(), stream: enterpriseStream, pageSize: 500,
		extra: fmt.Sprintf("  enterprise_domains = [%s]\n", strings.Join(domains, ", ")),
	}
	setup := writeExecdConfig(t, tmp, telegraf, telegrafBox, []streamConfig{stream},
		failedLoginIPTag, influxOutputTable(db.url, database))
	tg := startProcess(t, "telegraf", logPath, setup.argv...)
	produced := producedIDs(sim)
	ok, status := poll(2*drainTimeout, allPresent(produced, db.eventIDs(database)))
	require.True(t, ok, "InfluxDB did not get the events: %s", status)
	tg.stop(t)

	// The per-IP rule needs the converter's tag: check it is there, and only on
	// failed logins.
	res, err := db.query(database, `SHOW TAG VALUES CARDINALITY FROM "box_events" WITH KEY = "ip_address"`)
	require.NoError(t, err)
	require.NotEmpty(t, res.Series, "no ip_address tag: processors.converter did not run")

	// The scenario's invitations of outsiders are external = true (enterprise_domains
	// at work), each of them.
	ext := byKind[boxsim.ScenarioExternalSharing]
	res, err = db.query(database, fmt.Sprintf(`SELECT count("event_id") FROM "box_events" WHERE "event_type" = 'COLLABORATION_INVITE'
		AND "external" = true AND "user" = '%s' AND time >= %dms AND time <= %dms`,
		ext.User.Login, ext.First.UnixMilli(), ext.Last.Add(time.Second).UnixMilli()))
	require.NoError(t, err)
	require.NotEmpty(t, res.Series, "no external invitation in InfluxDB")
	require.Equal(t, strconv.Itoa(ext.Types["COLLABORATION_INVITE"]), fmt.Sprint(res.Series[0].Values[0][1]),
		"external invitations of the sharing scenario")

	var rules []alertRule
	for _, r := range loadAlertRules(t) {
		if r.file == "security.yaml" {
			rules = append(rules, r)
		}
	}
	require.Len(t, rules, len(detectionScenarios), "a rule of security.yaml without a scenario here, or the reverse")

	from, to := end.Add(-48*time.Hour), end.Add(20*time.Minute)
	firings := make(map[string][]alertFiring, len(rules))
	peaks := make(map[string]detectionPeaks, len(rules))
	var mu sync.Mutex
	t.Run("evaluate", func(t *testing.T) {
		for _, r := range rules {
			t.Run(r.UID, func(t *testing.T) {
				t.Parallel()
				sr := byKind[detectionScenarios[r.UID].kind]
				window := r.window()
				var pk detectionPeaks
				pk.benign, pk.attack = math.NaN(), math.NaN()
				f := r.evaluateObserved(t, db, database, from, to, func(at time.Time, st alertState) {
					// An evaluation whose window overlaps no scenario sees benign traffic only.
					benign := true
					for _, other := range rep.Scenarios {
						if !at.Before(other.First) && at.Before(other.Last.Add(window+time.Second)) {
							benign = false
						}
					}
					own := !at.Before(sr.First) && at.Before(sr.Last.Add(window+time.Second))
					switch {
					case benign && (math.IsNaN(pk.benign) || st.measure > pk.benign):
						pk.benign = st.measure
					case own && (math.IsNaN(pk.attack) || st.measure > pk.attack):
						pk.attack = st.measure
					}
				})
				mu.Lock()
				firings[r.UID], peaks[r.UID] = f, pk
				mu.Unlock()
			})
		}
	})

	for _, r := range rules {
		want, ok := detectionScenarios[r.UID]
		require.True(t, ok, "rule %s has no scenario in this test", r.UID)
		sr := byKind[want.kind]
		window := r.window()
		until := sr.Last.Add(window + r.interval)
		labels := want.labels(sr)
		require.NotEmpty(t, firings[r.UID], "%s did not fire on %s (%d events %s to %s, user %q, ip %s)",
			r.UID, want.kind, sr.Count, sr.First.Format(time.RFC3339), sr.Last.Format(time.RFC3339), sr.User.Login, sr.IP)
		for _, f := range firings[r.UID] {
			require.True(t, !f.at.Before(sr.First) && !f.at.After(until) && maps.Equal(f.labels, labels),
				"%s fired at %s with %v; its scenario %s ran %s to %s with %v", r.UID, f.at.Format(time.RFC3339), f.labels,
				want.kind, sr.First.Format(time.RFC3339), sr.Last.Format(time.RFC3339), labels)
		}
		t.Logf("%-24s fired %s after the first event of %s (%d events over %s), labels %v; "+
			"the rule's measure reached %s on its attack and at most %s on benign traffic alone",
			r.UID, firings[r.UID][0].at.Sub(sr.First), want.kind, sr.Count, sr.Last.Sub(sr.First), labels,
			measureText(peaks[r.UID].attack), measureText(peaks[r.UID].benign))
	}
}

// detectionPeaks are the largest values of a rule's measure (its first reduce
// expression) over evaluations that saw benign traffic only, and over those that
// saw its own attack.
type detectionPeaks struct{ benign, attack float64 }

// measureText prints a measure; NaN is a query without series (no such event).
func measureText(v float64) string {
	if math.IsNaN(v) {
		return "nothing (no such event)"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func scenarioEvents(rep boxsim.TrafficReport) int {
	n := 0
	for _, sr := range rep.Scenarios {
		n += sr.Count
	}
	return n
}
