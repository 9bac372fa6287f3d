package plugin_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// healthCompression is how much faster time runs in the collector-health test than
// in production: telegraf-box writes its self-metrics every 2s instead of every
// minute, and each rule of dashboards/alerts/collector.yaml is evaluated compressed
// by the same factor (alertRule.compressed): every 2s, over ranges, buckets and
// pending periods 30 times shorter, lags measured against thresholds 30 times lower.
const (
	healthCompression   = 30
	healthStatsInterval = "2s"
)

// healthCase is one run of the collector-health test: healthy for healthyFor, then
// the fault (if any) for faultFor.
type healthCase struct {
	name  string
	title string // what the picture calls it
	fault func(t *testing.T, sim *boxsim.Server, tg *process)
	// fires is the rule that must fire during the fault ("" for the healthy run, where
	// none may fire).
	fires string
	// alive: the collector keeps running, so "down" must stay silent.
	alive bool
}

var healthCases = []healthCase{
	{name: "healthy", title: "Healthy run", alive: true},
	{
		name: "hang", title: "Box stops answering", fires: "box-collector-stalled", alive: true,
		fault: func(_ *testing.T, sim *boxsim.Server, _ *process) {
			sim.SetRandomFaults(boxsim.EndpointEvents, 1, boxsim.Fault{Kind: boxsim.FaultHang})
		},
	},
	{
		name: "unauthorized", title: "Box refuses the credentials", fires: "box-collector-locked-out", alive: true,
		fault: func(_ *testing.T, sim *boxsim.Server, _ *process) {
			sim.SetRandomFaults(boxsim.EndpointToken, 1, boxsim.Fault{Kind: boxsim.FaultUnauthorized})
			sim.RevokeTokens()
		},
	},
	{
		name: "rate_limited", title: "Box rate-limits every call", fires: "box-collector-throttled", alive: true,
		fault: func(_ *testing.T, sim *boxsim.Server, _ *process) {
			sim.SetRandomFaults(boxsim.EndpointEvents, 1, boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 2 * time.Second})
		},
	},
	{
		name: "killed", title: "The collector is killed", fires: "box-collector-down",
		fault: func(t *testing.T, _ *boxsim.Server, tg *process) { tg.kill9(t) },
	},
}

// healthPanels are the queries of the dashboard's collector-health row, by title.
func healthPanels(t *testing.T) []dashboardPanel {
	t.Helper()
	var out []dashboardPanel
	for _, p := range loadDashboard(t).Panels {
		for _, target := range p.Targets {
			if strings.Contains(target.Query, `"internal_box_events"`) {
				out = append(out, p)
				break
			}
		}
	}
	require.NotEmpty(t, out, "the dashboard has no panel on internal_box_events")
	return out
}

// TestIntegrationCollectorHealth proves the collector alert rules on the collector's
// own metrics. Each case runs a real Telegraf with telegraf-box under inputs.execd
// (both streams, events produced all along, self-metrics every 2s) into InfluxDB:
// healthy for 30s, then a fault for 60s — the simulated Box stops answering, refuses
// the credentials, rate-limits every call, or the collector is killed. Every rule of
// dashboards/alerts/collector.yaml, compressed 30 times, is evaluated over the run:
// none fires in the healthy run or before a fault, each fires in its own fault, and
// "down" never fires while the collector runs. Every panel of the dashboard's health
// row runs against each database; with BOX_FIGURES_OUT=path their results are
// written there for tools/pictures (scripts/pictures.sh).
func TestIntegrationCollectorHealth(t *testing.T) { //nolint:tparallel // the subtests only evaluate the run above, in order, into one figures slice
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	t.Parallel() // mostly waiting on a wall-clock timeline: alongside the other such tests
	seed, _ := testSeed(t)
	db := startInfluxDB(t)

	var rules []alertRule
	for _, r := range loadAlertRules(t) {
		if r.file == "collector.yaml" {
			rules = append(rules, r.compressed(healthCompression))
		}
	}
	require.NotEmpty(t, rules)
	panels := healthPanels(t)

	// Every case runs at once, on one timeline: healthy until faultAt, then each
	// case's fault until end.
	const healthyFor, faultFor = 30 * time.Second, 60 * time.Second
	type run struct {
		database string
		sim      *boxsim.Server
		prod     *producer
		tg       *process
	}
	runs := make([]run, len(healthCases))
	start := time.Now()
	for i, hc := range healthCases {
		r := &runs[i]
		r.sim = startSim(t, seed+uint64(i))
		r.prod = startProducing(t, r.sim, seed+uint64(i))
		r.database = "box_health_" + hc.name
		tmp := t.TempDir()
		logPath := filepath.Join(tmp, "telegraf.log")
		logTailOnFailure(t, logPath)
		streams := plainStreams(r.sim.URL())
		for k := range streams {
			streams[k].extra += fmt.Sprintf("  stats_interval = %q\n", healthStatsInterval)
		}
		setup := writeExecdConfig(t, tmp, telegraf, telegrafBox, streams, influxOutputTable(db.url, r.database))
		r.tg = startProcess(t, "telegraf", logPath, setup.argv...)
	}
	time.Sleep(time.Until(start.Add(healthyFor)))
	faultAt := time.Now()
	for i, hc := range healthCases {
		if hc.fault != nil {
			hc.fault(t, runs[i].sim, runs[i].tg)
		}
	}
	time.Sleep(faultFor)
	end := time.Now()
	for _, r := range runs {
		r.prod.stop()
		if !r.tg.exited() {
			r.tg.stop(t)
		}
	}

	var figures []figure
	for i, hc := range healthCases {
		database := runs[i].database
		t.Run(hc.name, func(t *testing.T) {
			// Evaluate from the first self-metrics on, as a rule on a new collector would.
			from := start.Add(10 * time.Second)
			fired := make(map[string]time.Time) // rule -> first firing
			for _, r := range rules {
				for _, f := range r.evaluateOver(t, db, database, from, end) {
					t.Logf("%s fired at +%s with %v", r.UID, f.at.Sub(start).Round(time.Second), f.labels)
					require.False(t, f.at.Before(faultAt), "%s fired at +%s, before the fault (+%s)",
						r.UID, f.at.Sub(start).Round(time.Second), faultAt.Sub(start).Round(time.Second))
					require.NotNil(t, hc.fault, "%s fired in the healthy run", r.UID)
					require.False(t, hc.alive && r.UID == "box-collector-down", "down fired while the collector ran")
					if first, ok := fired[r.UID]; !ok || f.at.Before(first) {
						fired[r.UID] = f.at
					}
				}
			}
			if hc.fires != "" {
				require.True(t, slices.ContainsFunc(rules, func(r alertRule) bool { return r.UID == hc.fires }),
					"no rule %s in collector.yaml", hc.fires)
				_, ok := fired[hc.fires]
				require.True(t, ok, "%s did not fire when %s", hc.fires, strings.ToLower(hc.title))
			}
			figures = append(figures, healthFigure(t, db, panels, healthRun{
				hc: hc, database: database, start: start, faultAt: faultAt, alertAt: fired[hc.fires], end: end,
			}))
		})
	}
	t.Cleanup(func() {
		if path := os.Getenv("BOX_FIGURES_OUT"); path != "" && !t.Failed() {
			slices.SortFunc(figures, func(a, b figure) int { return strings.Compare(a.Name, b.Name) })
			buf, err := json.MarshalIndent(figures, "", " ")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, buf, 0o600))
			t.Logf("figures written to %s", path)
		}
	})
}

// figure, figurePanel and figureSeries are tools/pictures' input.
type (
	figure struct {
		Name    string        `json:"name"`
		Title   string        `json:"title"`
		Caption string        `json:"caption"`
		Columns int           `json:"columns"`
		Panels  []figurePanel `json:"panels"`
	}
	figurePanel struct {
		Title  string         `json:"title"`
		Unit   string         `json:"unit"`
		Series []figureSeries `json:"series"`
		Marks  []figureMark   `json:"marks,omitempty"`
	}
	figureSeries struct {
		Name   string       `json:"name"`
		Points [][2]float64 `json:"points"`
	}
	figureMark struct {
		At    int64  `json:"at"`
		Label string `json:"label"`
	}
)

// healthRun is one case's run: its database and moments (alertAt: when its rule
// first fired, zero for none).
type healthRun struct {
	hc                           healthCase
	database                     string
	start, faultAt, alertAt, end time.Time
}

// healthFigure runs every health panel's query over the case's run (each must
// succeed and the row must show data) and returns the results as a figure.
func healthFigure(t *testing.T, db *influxDB, panels []dashboardPanel, run healthRun) figure {
	t.Helper()
	hc, database, start, faultAt, alertAt, end := run.hc, run.database, run.start, run.faultAt, run.alertAt, run.end
	macros := strings.NewReplacer(
		"$timeFilter", fmt.Sprintf("time >= %dms and time <= %dms", start.UnixMilli(), end.Add(5*time.Second).UnixMilli()),
		"$__interval", healthStatsInterval,
		"$stream_type", ".*",
		"$user", ".*",
	)
	fig := figure{
		Name:  "health_" + hc.name,
		Title: "Collector health: " + hc.title,
		Caption: fmt.Sprintf("Drawn from the data of plugin_test's TestIntegrationCollectorHealth (case %s): simulated Box, "+
			"telegraf-box under a real Telegraf's inputs.execd, InfluxDB; time compressed %d times (self-metrics every %s "+
			"stand for every minute), the dashboard's queries with a %s interval.", hc.name, healthCompression,
			healthStatsInterval, healthStatsInterval),
		Columns: 3,
	}
	points := 0
	for _, p := range panels {
		fp := figurePanel{Title: p.Title, Unit: p.Unit()}
		if hc.fault != nil {
			fp.Marks = []figureMark{{At: faultAt.UnixMilli(), Label: "fault"}}
		}
		if !alertAt.IsZero() {
			fp.Marks = append(fp.Marks, figureMark{At: alertAt.UnixMilli(), Label: hc.fires + " fires"})
		}
		for _, target := range p.Targets {
			res, err := db.query(database, macros.Replace(target.Query))
			require.NoError(t, err, "panel %q", p.Title)
			for _, s := range res.Series {
				for col := 1; col < len(s.Columns); col++ {
					fs := figureSeries{Name: seriesName(s.Tags, s.Columns[col], len(s.Columns) > 2)}
					for _, row := range s.Values {
						ns, err := row[0].(json.Number).Int64()
						require.NoError(t, err)
						ms := ns / int64(time.Millisecond)
						if row[col] == nil {
							continue
						}
						fs.Points = append(fs.Points, [2]float64{float64(ms), toFloat(row[col])})
						points++
					}
					fp.Series = append(fp.Series, fs)
				}
			}
		}
		// As Grafana's legend option "hide series with only zeros" would, where
		// a panel has many series (API errors: four classes per collector).
		if len(fp.Series) > 2 {
			nonZero := slices.DeleteFunc(slices.Clone(fp.Series), func(fs figureSeries) bool {
				return !slices.ContainsFunc(fs.Points, func(pt [2]float64) bool { return pt[1] != 0 })
			})
			if len(nonZero) > 0 {
				fp.Series = nonZero
			} else {
				fp.Series = fp.Series[:1]
			}
		}
		fig.Panels = append(fig.Panels, fp)
	}
	require.Positive(t, points, "the health row shows no data for %s", hc.name)
	return fig
}

// seriesName names a series as a Grafana legend would: its tags, and the column
// when a query selects several.
func seriesName(tags map[string]string, column string, withColumn bool) string {
	var parts []string
	if withColumn {
		parts = append(parts, column)
	}
	if st := tags["stream_type"]; st != "" {
		parts = append(parts, st)
	}
	if len(parts) == 0 {
		return column
	}
	return strings.Join(parts, " ")
}
