package plugin_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// dashboard is the part of a Grafana dashboard JSON the tests need.
type dashboard struct {
	Panels []dashboardPanel `json:"panels"`
}

// dashboardPanel is one panel: its title, unit and InfluxQL queries.
type dashboardPanel struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Query string `json:"query"`
	} `json:"targets"`
}

// Unit is the panel's unit as Grafana names it ("s", "short", ...).
func (p dashboardPanel) Unit() string { return p.FieldConfig.Defaults.Unit }

// loadDashboard reads dashboards/box_events.json.
func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join("..", "dashboards", "box_events.json"))
	require.NoError(t, err)
	var dash dashboard
	require.NoError(t, json.Unmarshal(buf, &dash))
	require.NotEmpty(t, dash.Panels)
	return dash
}

// grafanaMacros stands in for what Grafana substitutes before sending a query:
// the dashboard's time range, the group-by interval and the "All" value of the
// template variables.
var grafanaMacros = strings.NewReplacer(
	"$timeFilter", "time > now() - 1d",
	"$__interval", "1m",
	"$stream_type", ".*",
	"$user", ".*",
)

// TestIntegrationDashboardQueries fills a real InfluxDB through Telegraf's agent
// with the plugin compiled in, then runs every query of dashboards/box_events.json:
// each must be valid InfluxQL over the tags and fields the plugin writes, and the
// panels fed by the event types the simulator produces must show data.
func TestIntegrationDashboardQueries(t *testing.T) {
	requireIntegration(t)
	runner := runnerBinary(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	sim.EmitUser(200)
	sim.EmitEnterprise(300)
	// The rarest types a panel below must show, one in 68 of the simulator's enterprise events:
	// 300 of them had no Shield alert for one seed in a hundred (seed 1796232788471554032).
	for _, typ := range []string{"SHIELD_ALERT", "SHIELD_ALERT", "CHANGE_ADMIN_ROLE"} {
		sim.EmitType(boxsim.StreamAdminLogsStreaming, typ)
	}

	dash := loadDashboard(t)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	const database = "box_dashboard"
	// With the enterprise's domains configured, collaborators elsewhere are external (the
	// external sharing panels).
	streams := plainStreams(sim.URL())
	for i := range streams {
		streams[i].extra = "  enterprise_domains = [\"" + strings.Join(sim.Directory().Domains, "\", \"") + "\"]\n"
	}
	argv := writeCompiledInConfig(t, dir, runner, filepath.Join(dir, "agent.state"), streams,
		influxOutputTable(db.url, database))
	tg := startProcess(t, "telegrafrun", logPath, argv...)
	produced := producedIDs(sim)
	ok, status := poll(drainTimeout, allPresent(produced, db.eventIDs(database)))
	require.True(t, ok, "InfluxDB did not get the events: %s", status)
	tg.stop(t)

	// Panels whose event types the simulator always produces in this volume.
	mustHaveData := map[string]bool{
		"Events by type": true, "Logins and failed logins": true, "Downloads by user": true, "Recent events": true,
		"Events by category": true, "Shield alert risk score": true, "Shield alerts by rule and risk score": true,
		"Admin actions": true, "Recent admin actions": true, "Downloads by folder": true,
		"External sharing": true, "External collaborators and open links": true,
	}
	for _, panel := range dash.Panels {
		for _, target := range panel.Targets {
			q := grafanaMacros.Replace(target.Query)
			require.NotRegexp(t, `\$[A-Za-z_]`, q, "panel %q uses a macro the test does not know", panel.Title)
			res, err := db.query(database, q)
			require.NoError(t, err, "panel %q", panel.Title)
			if mustHaveData[panel.Title] {
				require.NotEmpty(t, res.Series, "panel %q shows no data", panel.Title)
			}
			t.Logf("panel %q: %d series", panel.Title, len(res.Series))
		}
	}
}

// TestIntegrationDashboardWithFailedLoginIPTag runs the dashboard's queries against the
// setup the alert rules need (dashboards/README.md): the README's processors.converter
// makes ip_address a tag on failed logins, so on those points it is no longer a field,
// and InfluxQL's "ip_address" is the field only. Every query must still run, and every
// table row of a failed login must show the address it came from: for a failed login
// the address is what matters most. Pipeline: the simulated Box's admin_logs_streaming
// → telegraf-box under a real Telegraf's inputs.execd, with the converter → InfluxDB.
func TestIntegrationDashboardWithFailedLoginIPTag(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	sim.EmitEnterprise(300)
	// Enough failed logins that the newest 200 events ("Recent events") hold some.
	for range 20 {
		sim.EmitType(boxsim.StreamAdminLogsStreaming, "FAILED_LOGIN")
	}
	produced := sim.ProducedIDs(boxsim.StreamAdminLogsStreaming)

	dir := t.TempDir()
	const database = "box_dashboard_ip"
	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	setup := writeExecdConfig(t, dir, telegraf, telegrafBox, []streamConfig{{simURL: sim.URL(), stream: enterpriseStream}},
		failedLoginIPTag, influxOutputTable(db.url, database))
	killLeftoverChildren(t, setup.confPaths()...)
	tg := startProcess(t, "telegraf", logPath, setup.argv...)
	ok, status := poll(drainTimeout, func() (bool, string) {
		counts, err := db.pointIDs(database, enterpriseStream)
		if err != nil {
			return false, err.Error()
		}
		missing := missingIDs(produced, counts)
		return len(missing) == 0, fmt.Sprintf("%d of %d events missing", len(missing), len(produced))
	})
	require.True(t, ok, "InfluxDB did not get the events: %s", status)
	tg.stop(t)

	failedRows := 0
	for _, panel := range loadDashboard(t).Panels {
		for _, target := range panel.Targets {
			q := grafanaMacros.Replace(target.Query)
			res, err := db.query(database, q)
			require.NoError(t, err, "panel %q", panel.Title)
			if panel.Type != "table" || !strings.Contains(q, `"ip_address"`) {
				continue
			}
			for _, s := range res.Series {
				typeCol := slices.Index(s.Columns, "event_type")
				require.GreaterOrEqual(t, typeCol, 0, "panel %q: no event_type column", panel.Title)
				for _, row := range s.Values {
					if row[typeCol] != "FAILED_LOGIN" {
						continue
					}
					failedRows++
					var addr []any
					for i, c := range s.Columns {
						if strings.Contains(c, "ip") && row[i] != nil {
							addr = append(addr, row[i])
						}
					}
					require.NotEmpty(t, addr, "panel %q shows a failed login without its address: columns %v, row %v",
						panel.Title, s.Columns, row)
				}
			}
		}
	}
	require.Positive(t, failedRows, "no table showed a failed login")
	t.Logf("%d failed-login rows, each with its address", failedRows)
}
