package plugin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// This file evaluates the Grafana alert rules shipped under dashboards/alerts the way
// Grafana's alerting does, against a test's InfluxDB: the rule's InfluxQL query over
// its relative time range (Grafana's $timeFilter), then its server-side expressions
// (reduce, threshold), one alert instance per series, a pending period ("for"), and
// noDataState when the query returns no series. Only what the shipped rules use is
// supported; anything else fails the test rather than being evaluated wrongly.

// alertRuleFile is a Grafana alerting file-provisioning document (apiVersion 1).
type alertRuleFile struct {
	APIVersion int `yaml:"apiVersion"`
	Groups     []struct {
		OrgID    int         `yaml:"orgId"`
		Name     string      `yaml:"name"`
		Folder   string      `yaml:"folder"`
		Interval string      `yaml:"interval"`
		Rules    []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

// alertRule is one provisioned rule; interval is its group's evaluation interval.
type alertRule struct {
	UID          string            `yaml:"uid"`
	Title        string            `yaml:"title"`
	Condition    string            `yaml:"condition"`
	Data         []alertQuery      `yaml:"data"`
	NoDataState  string            `yaml:"noDataState"`
	ExecErrState string            `yaml:"execErrState"`
	For          string            `yaml:"for"`
	Labels       map[string]string `yaml:"labels"`
	Annotations  map[string]string `yaml:"annotations"`

	interval time.Duration
	file     string
}

// alertQuery is one entry of a rule's data: a data source query or an expression.
type alertQuery struct {
	RefID             string `yaml:"refId"`
	RelativeTimeRange struct {
		From int64 `yaml:"from"` // seconds before the evaluation time
		To   int64 `yaml:"to"`
	} `yaml:"relativeTimeRange"`
	DatasourceUID string         `yaml:"datasourceUid"`
	Model         map[string]any `yaml:"model"`
}

// expressionUID is the data source uid of Grafana's server-side expressions.
const expressionUID = "__expr__"

// influxDatasourceUID is the uid of the InfluxDB data source that
// dashboards/provisioning/datasources.yaml provisions and every rule queries.
const influxDatasourceUID = "box-influxdb"

// loadAlertRules reads every rule of every file under dashboards/alerts and checks
// that each uses only what evaluate supports.
func loadAlertRules(t *testing.T) []alertRule {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "dashboards", "alerts", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no alert rule files under dashboards/alerts")
	var rules []alertRule
	uids := make(map[string]string)
	for _, path := range paths {
		buf, err := os.ReadFile(path)
		require.NoError(t, err)
		var f alertRuleFile
		dec := yaml.NewDecoder(strings.NewReader(string(buf)))
		dec.KnownFields(true)
		require.NoError(t, dec.Decode(&f), "%s", path)
		require.Equal(t, 1, f.APIVersion, "%s: apiVersion", path)
		for _, g := range f.Groups {
			interval, err := time.ParseDuration(g.Interval)
			require.NoError(t, err, "%s: group %q interval", path, g.Name)
			require.NotEmpty(t, g.Folder, "%s: group %q folder", path, g.Name)
			for _, r := range g.Rules {
				r.interval, r.file = interval, filepath.Base(path)
				require.NotEmpty(t, r.UID, "%s: a rule without uid", path)
				require.LessOrEqual(t, len(r.UID), 40, "%s: Grafana's uids are at most 40 characters: %s", path, r.UID)
				if other, dup := uids[r.UID]; dup {
					require.Failf(t, "duplicate rule uid", "%s in %s and %s", r.UID, other, path)
				}
				uids[r.UID] = path
				require.NoError(t, r.check(), "%s: rule %q", path, r.Title)
				rules = append(rules, r)
			}
		}
	}
	return rules
}

// check reports what evaluate would not evaluate faithfully.
func (r *alertRule) check() error {
	if r.Title == "" {
		return errors.New("no title")
	}
	if _, err := r.pending(); err != nil {
		return err
	}
	switch r.NoDataState {
	case "OK", "NoData", "Alerting":
	default:
		return fmt.Errorf("noDataState %q (want OK, NoData or Alerting)", r.NoDataState)
	}
	switch r.ExecErrState {
	case "Error", "Alerting", "OK":
	default:
		return fmt.Errorf("execErrState %q", r.ExecErrState)
	}
	refs := make(map[string]bool)
	for _, q := range r.Data {
		if q.RefID == "" || refs[q.RefID] {
			return fmt.Errorf("refId %q empty or repeated", q.RefID)
		}
		refs[q.RefID] = true
		if ref, _ := q.Model["refId"].(string); ref != q.RefID {
			return fmt.Errorf("%s: model.refId %q", q.RefID, ref)
		}
		if q.DatasourceUID != expressionUID {
			if q.DatasourceUID != influxDatasourceUID {
				return fmt.Errorf("%s: datasourceUid %q (want %q)", q.RefID, q.DatasourceUID, influxDatasourceUID)
			}
			query, _ := q.Model["query"].(string)
			if raw, _ := q.Model["rawQuery"].(bool); !raw || query == "" {
				return fmt.Errorf("%s: want a raw InfluxQL query (rawQuery: true, query)", q.RefID)
			}
			if !strings.Contains(query, "$timeFilter") {
				return fmt.Errorf("%s: the query must use $timeFilter", q.RefID)
			}
			if q.RelativeTimeRange.From <= q.RelativeTimeRange.To {
				return fmt.Errorf("%s: relativeTimeRange from %d to %d", q.RefID, q.RelativeTimeRange.From, q.RelativeTimeRange.To)
			}
			continue
		}
		expr, _ := q.Model["expression"].(string)
		typ, _ := q.Model["type"].(string)
		if typ == "math" {
			_, vars, err := parseMath(expr)
			if err != nil {
				return fmt.Errorf("%s: %w", q.RefID, err)
			}
			for _, v := range vars {
				if !refs[v] || v == q.RefID {
					return fmt.Errorf("%s: math $%s refers to no earlier refId", q.RefID, v)
				}
			}
			continue
		}
		if !refs[expr] {
			return fmt.Errorf("%s: expression %q refers to no earlier refId", q.RefID, expr)
		}
		switch typ {
		case "reduce":
			if _, err := reducerOf(q.Model); err != nil {
				return fmt.Errorf("%s: %w", q.RefID, err)
			}
		case "threshold":
			if _, err := thresholdOf(q.Model); err != nil {
				return fmt.Errorf("%s: %w", q.RefID, err)
			}
		default:
			return fmt.Errorf("%s: expression type %q is not supported here", q.RefID, typ)
		}
	}
	if !refs[r.Condition] {
		return fmt.Errorf("condition %q is no refId", r.Condition)
	}
	return nil
}

// window is the longest time range the rule's queries look back over.
func (r *alertRule) window() time.Duration {
	var from int64
	for _, q := range r.Data {
		from = max(from, q.RelativeTimeRange.From)
	}
	return time.Duration(from) * time.Second
}

func (r *alertRule) pending() (time.Duration, error) {
	if r.For == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(r.For)
	if err != nil {
		return 0, fmt.Errorf("for: %w", err)
	}
	return d, nil
}

// compressed returns the rule as it would run with time going k times faster, for
// tests of self-metrics that cannot wait a rule's real quarter of an hour: its
// evaluation interval, pending period, relative time ranges and GROUP BY time()
// buckets are divided by k, and so are the thresholds of a rule whose query
// selects a field measured in seconds (a lag reaches a k-times shorter threshold
// k times sooner). Rates per second (non_negative_derivative(..., 1s)) and counts
// are left as they are: over a k-times shorter window a steady fault makes no more
// of them, so a rule that fires compressed fires at full scale too.
func (r alertRule) compressed(k int64) alertRule {
	out := r
	out.interval = r.interval / time.Duration(k)
	if d, err := r.pending(); err == nil {
		out.For = (d / time.Duration(k)).String()
	}
	seconds := false
	out.Data = make([]alertQuery, len(r.Data))
	for i, q := range r.Data {
		q.Model = maps.Clone(q.Model)
		if q.DatasourceUID != expressionUID {
			q.RelativeTimeRange.From /= k
			q.RelativeTimeRange.To /= k
			query := q.Model["query"].(string)
			seconds = seconds || secondsField.MatchString(query)
			q.Model["query"] = groupByTime.ReplaceAllStringFunc(query, func(m string) string {
				d, err := time.ParseDuration(groupByTime.FindStringSubmatch(m)[1])
				if err != nil {
					return m
				}
				return fmt.Sprintf("time(%dms)", (d / time.Duration(k)).Milliseconds())
			})
		}
		out.Data[i] = q
	}
	if seconds {
		for i, q := range out.Data {
			if q.Model["type"] != "threshold" {
				continue
			}
			th, err := thresholdOf(q.Model)
			if err != nil {
				continue
			}
			params := make([]any, len(th.params))
			for j, p := range th.params {
				params[j] = p / float64(k)
			}
			out.Data[i].Model["conditions"] = []any{map[string]any{"evaluator": map[string]any{"type": th.typ, "params": params}}}
		}
	}
	return out
}

var (
	groupByTime  = regexp.MustCompile(`time\((\d+(?:ms|s|m|h))\)`)
	secondsField = regexp.MustCompile(`"[a-z_]+_seconds"`)
)

// alertSeries is one series of a query or an expression: its labels (the query's
// GROUP BY tags) and values (NaN for null).
type alertSeries struct {
	labels map[string]string
	values []float64
}

func (s alertSeries) key() string {
	keys := make([]string, 0, len(s.labels))
	for k, v := range s.labels {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// reducer is a reduce expression: a function and its mode for non-numbers.
type reducer struct {
	fn, mode string
	replace  float64
}

func reducerOf(model map[string]any) (reducer, error) {
	r := reducer{}
	r.fn, _ = model["reducer"].(string)
	switch r.fn {
	case "last", "max", "min", "mean", "sum", "count":
	default:
		return r, fmt.Errorf("reducer %q", r.fn)
	}
	if settings, ok := model["settings"].(map[string]any); ok {
		r.mode, _ = settings["mode"].(string)
		if v, ok := settings["replaceWithValue"]; ok {
			r.replace = toFloat(v)
		}
	}
	switch r.mode {
	case "", "strict", "dropNN", "replaceNN":
	default:
		return r, fmt.Errorf("reducer mode %q", r.mode)
	}
	return r, nil
}

// reduce applies r as Grafana's reduce expression does: strict mode gives NaN
// when any value is not a number, dropNN drops those, replaceNN replaces them.
func (r reducer) reduce(values []float64) float64 {
	vs := make([]float64, 0, len(values))
	for _, v := range values {
		if math.IsNaN(v) {
			switch r.mode {
			case "dropNN":
				continue
			case "replaceNN":
				v = r.replace
			}
		}
		vs = append(vs, v)
	}
	if r.fn == "count" {
		return float64(len(vs))
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	switch r.fn {
	case "last":
		return vs[len(vs)-1]
	case "max":
		return slices.Max(vs)
	case "min":
		return slices.Min(vs)
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	if r.fn == "mean" {
		return sum / float64(len(vs))
	}
	return sum
}

// threshold is a threshold expression's first condition.
type threshold struct {
	typ    string
	params []float64
}

func thresholdOf(model map[string]any) (threshold, error) {
	conds, _ := model["conditions"].([]any)
	if len(conds) != 1 {
		return threshold{}, fmt.Errorf("want one threshold condition, got %d", len(conds))
	}
	cond, _ := conds[0].(map[string]any)
	ev, _ := cond["evaluator"].(map[string]any)
	th := threshold{}
	th.typ, _ = ev["type"].(string)
	params, _ := ev["params"].([]any)
	for _, p := range params {
		th.params = append(th.params, toFloat(p))
	}
	want := map[string]int{"gt": 1, "lt": 1, "within_range": 2, "outside_range": 2}[th.typ]
	if want == 0 || len(th.params) < want {
		return th, fmt.Errorf("threshold %q with params %v", th.typ, th.params)
	}
	return th, nil
}

// fires is the threshold's verdict on v; NaN never fires.
func (th threshold) fires(v float64) bool {
	p := th.params
	switch th.typ {
	case "gt":
		return v > p[0]
	case "lt":
		return v < p[0]
	case "within_range":
		return v > p[0] && v < p[1]
	case "outside_range":
		return v < p[0] || v > p[1]
	}
	return false
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	case json.Number:
		f, err := n.Float64()
		if err == nil {
			return f
		}
	}
	return math.NaN()
}

// alertState is the outcome of one evaluation of a rule.
type alertState struct {
	firing []map[string]string // the labels of each series whose condition holds
	noData bool                // the query returned no series
	// measure is the largest value of the rule's first reduce expression (what
	// its threshold or math compares: a count, a risk score), NaN without series,
	// and measureLabels the labels of its series: how close a rule came to firing.
	measure       float64
	measureLabels map[string]string
}

// decide runs the rule's expressions over the query results (by refId) at one
// evaluation.
func (r *alertRule) decide(results map[string][]alertSeries) (alertState, error) {
	for _, q := range r.Data {
		if q.DatasourceUID != expressionUID {
			continue
		}
		if q.Model["type"] == "math" {
			out, err := evalMath(q.Model["expression"].(string), results)
			if err != nil {
				return alertState{}, fmt.Errorf("%s: %w", q.RefID, err)
			}
			results[q.RefID] = out
			continue
		}
		in := results[q.Model["expression"].(string)]
		out := make([]alertSeries, 0, len(in))
		switch q.Model["type"] {
		case "reduce":
			red, err := reducerOf(q.Model)
			if err != nil {
				return alertState{}, err
			}
			for _, s := range in {
				out = append(out, alertSeries{labels: s.labels, values: []float64{red.reduce(s.values)}})
			}
		case "threshold":
			th, err := thresholdOf(q.Model)
			if err != nil {
				return alertState{}, err
			}
			for _, s := range in {
				if len(s.values) != 1 {
					return alertState{}, fmt.Errorf("%s: threshold over a series of %d values (reduce it first)", q.RefID, len(s.values))
				}
				v := 0.0
				if th.fires(s.values[0]) {
					v = 1
				}
				out = append(out, alertSeries{labels: s.labels, values: []float64{v}})
			}
		}
		results[q.RefID] = out
	}
	st := alertState{measure: math.NaN()}
	for _, q := range r.Data {
		if q.DatasourceUID == expressionUID && q.Model["type"] == "reduce" {
			for _, ser := range results[q.RefID] {
				if v := ser.values[0]; !math.IsNaN(v) && (math.IsNaN(st.measure) || v > st.measure) {
					st.measure, st.measureLabels = v, ser.labels
				}
			}
			break
		}
	}
	cond := results[r.Condition]
	if len(cond) == 0 {
		st.noData = true
		return st, nil
	}
	for _, s := range cond {
		if len(s.values) == 1 && s.values[0] != 0 && !math.IsNaN(s.values[0]) {
			st.firing = append(st.firing, s.labels)
		}
	}
	return st, nil
}

// evaluate runs the rule at time at against database: its queries with $timeFilter
// set to their relative time ranges, then decide.
func (r *alertRule) evaluate(db *influxDB, database string, at time.Time) (alertState, error) {
	results := make(map[string][]alertSeries)
	for _, q := range r.Data {
		if q.DatasourceUID == expressionUID {
			continue
		}
		from := at.Add(-time.Duration(q.RelativeTimeRange.From) * time.Second)
		to := at.Add(-time.Duration(q.RelativeTimeRange.To) * time.Second)
		query := strings.ReplaceAll(q.Model["query"].(string), "$timeFilter",
			fmt.Sprintf("time >= %dms and time <= %dms", from.UnixMilli(), to.UnixMilli()))
		if strings.Contains(query, "$") {
			return alertState{}, fmt.Errorf("%s: a macro other than $timeFilter in %q", q.RefID, query)
		}
		res, err := db.query(database, query)
		if err != nil {
			return alertState{}, err
		}
		series := make([]alertSeries, 0, len(res.Series))
		for _, s := range res.Series {
			out := alertSeries{labels: s.Tags}
			if out.labels == nil {
				out.labels = map[string]string{}
			}
			for _, row := range s.Values {
				// Column 0 is time; a rule's query selects one value column.
				if len(row) != 2 {
					return alertState{}, fmt.Errorf("%s: want time and one value column, got %v", q.RefID, s.Columns)
				}
				out.values = append(out.values, toFloat(row[1]))
			}
			series = append(series, out)
		}
		results[q.RefID] = series
	}
	return r.decide(results)
}

// alertFiring is when a rule fires for one series over a run of evaluations.
type alertFiring struct {
	labels map[string]string
	at     time.Time
}

// evaluateOver evaluates the rule at every group interval from start to end, as
// Grafana would, keeping each series' pending period: a series fires once its
// condition has held at every evaluation for the rule's "for". A query without
// series fires (with no labels) when noDataState is Alerting.
func (r *alertRule) evaluateOver(t *testing.T, db *influxDB, database string, start, end time.Time) []alertFiring {
	t.Helper()
	return r.evaluateObserved(t, db, database, start, end, nil)
}

// evaluateObserved is evaluateOver that also hands every evaluation's state to
// observe (when not nil).
func (r *alertRule) evaluateObserved(t *testing.T, db *influxDB, database string, start, end time.Time,
	observe func(at time.Time, st alertState)) []alertFiring {
	t.Helper()
	pending, err := r.pending()
	require.NoError(t, err)
	since := make(map[string]time.Time) // series key -> first evaluation of its current run
	fired := make(map[string]bool)
	var out []alertFiring
	for at := start; !at.After(end); at = at.Add(r.interval) {
		st, err := r.evaluate(db, database, at)
		require.NoError(t, err, "rule %q at %s", r.Title, at)
		if observe != nil {
			observe(at, st)
		}
		firing := st.firing
		if st.noData && r.NoDataState == "Alerting" {
			firing = []map[string]string{{}}
		}
		now := make(map[string]bool, len(firing))
		for _, labels := range firing {
			k := alertSeries{labels: labels}.key()
			now[k] = true
			if _, ok := since[k]; !ok {
				since[k] = at
			}
			if !fired[k] && at.Sub(since[k]) >= pending {
				fired[k] = true
				out = append(out, alertFiring{labels: labels, at: at})
			}
		}
		for k := range since {
			if !now[k] {
				delete(since, k)
				delete(fired, k)
			}
		}
	}
	return out
}

// TestAlertRuleFiles checks every shipped rule file: it parses as Grafana's
// provisioning format, uses only what the evaluator supports (so the tests that
// prove the rules evaluate them faithfully), and queries the provisioned data source.
func TestAlertRuleFiles(t *testing.T) {
	rules := loadAlertRules(t)
	for _, r := range rules {
		t.Logf("%s: %q every %s, for %q, noData %s", r.file, r.Title, r.interval, r.For, r.NoDataState)
	}
	buf, err := os.ReadFile(filepath.Join("..", "dashboards", "provisioning", "datasources.yaml"))
	require.NoError(t, err)
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name string `yaml:"name"`
			Type string `yaml:"type"`
			UID  string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(buf, &ds))
	require.Equal(t, 1, ds.APIVersion)
	require.True(t, slices.ContainsFunc(ds.Datasources, func(d struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
		UID  string `yaml:"uid"`
	}) bool {
		return d.UID == influxDatasourceUID && d.Type == "influxdb"
	}), "datasources.yaml provisions no influxdb data source with uid %q", influxDatasourceUID)
}

// TestAlertDecide checks the evaluator's expressions on hand-made series, so that
// the rule tests rest on an evaluator that is itself tested.
func TestAlertDecide(t *testing.T) {
	rule := alertRule{Title: "t", Condition: "C", NoDataState: "OK", ExecErrState: "Error", Data: []alertQuery{
		{RefID: "A", DatasourceUID: influxDatasourceUID, Model: map[string]any{"refId": "A", "rawQuery": true, "query": "SELECT 1 WHERE $timeFilter"}},
		{RefID: "B", DatasourceUID: expressionUID, Model: map[string]any{"refId": "B", "type": "reduce", "expression": "A", "reducer": "max",
			"settings": map[string]any{"mode": "dropNN"}}},
		{RefID: "C", DatasourceUID: expressionUID, Model: map[string]any{"refId": "C", "type": "threshold", "expression": "B",
			"conditions": []any{map[string]any{"evaluator": map[string]any{"type": "gt", "params": []any{10}}}}}},
	}}
	rule.Data[0].RelativeTimeRange.From = 600
	require.NoError(t, rule.check())
	st, err := rule.decide(map[string][]alertSeries{"A": {
		{labels: map[string]string{"user": "a"}, values: []float64{1, 11, math.NaN()}},
		{labels: map[string]string{"user": "b"}, values: []float64{10, 10}},
		{labels: map[string]string{"user": "c"}, values: []float64{math.NaN()}},
	}})
	require.NoError(t, err)
	require.Equal(t, []map[string]string{{"user": "a"}}, st.firing)
	require.False(t, st.noData)

	st, err = rule.decide(map[string][]alertSeries{"A": nil})
	require.NoError(t, err)
	require.True(t, st.noData)

	// Strict mode: a null makes the value NaN, which never fires.
	rule.Data[1].Model["settings"] = map[string]any{"mode": "strict"}
	st, err = rule.decide(map[string][]alertSeries{"A": {{labels: map[string]string{}, values: []float64{50, math.NaN()}}}})
	require.NoError(t, err)
	require.Empty(t, st.firing)

	for _, tc := range []struct {
		fn   string
		want float64
	}{{"last", 3}, {"min", 1}, {"max", 5}, {"mean", 3}, {"sum", 9}, {"count", 3}} {
		require.InDelta(t, tc.want, reducer{fn: tc.fn}.reduce([]float64{1, 5, 3}), 1e-9, tc.fn)
	}
	require.True(t, threshold{typ: "within_range", params: []float64{1, 5}}.fires(3))
	require.False(t, threshold{typ: "within_range", params: []float64{1, 5}}.fires(5))
	require.True(t, threshold{typ: "outside_range", params: []float64{1, 5}}.fires(6))
	require.False(t, threshold{typ: "lt", params: []float64{1}}.fires(math.NaN()))
}

// TestAlertCompressed checks the time compression the self-metrics tests use.
func TestAlertCompressed(t *testing.T) {
	rule := alertRule{Title: "t", Condition: "C", NoDataState: "OK", ExecErrState: "Error", For: "5m", interval: time.Minute,
		Data: []alertQuery{
			{RefID: "A", DatasourceUID: influxDatasourceUID, Model: map[string]any{"refId": "A", "rawQuery": true,
				"query": `SELECT max("lag_seconds") FROM x WHERE $timeFilter GROUP BY time(1m), "id"`}},
			{RefID: "B", DatasourceUID: expressionUID, Model: map[string]any{"refId": "B", "type": "reduce", "expression": "A", "reducer": "max"}},
			{RefID: "C", DatasourceUID: expressionUID, Model: map[string]any{"refId": "C", "type": "threshold", "expression": "B",
				"conditions": []any{map[string]any{"evaluator": map[string]any{"type": "gt", "params": []any{900}}}}}},
		}}
	rule.Data[0].RelativeTimeRange.From = 900
	c := rule.compressed(15)
	require.NoError(t, c.check())
	require.Equal(t, 4*time.Second, c.interval)
	require.Equal(t, "20s", c.For)
	require.Equal(t, int64(60), c.Data[0].RelativeTimeRange.From)
	require.Equal(t, `SELECT max("lag_seconds") FROM x WHERE $timeFilter GROUP BY time(4000ms), "id"`, c.Data[0].Model["query"])
	th, err := thresholdOf(c.Data[2].Model)
	require.NoError(t, err)
	require.Equal(t, []float64{60}, th.params)
	// The original is untouched.
	require.Equal(t, int64(900), rule.Data[0].RelativeTimeRange.From)
	th, err = thresholdOf(rule.Data[2].Model)
	require.NoError(t, err)
	require.Equal(t, []float64{900}, th.params)
}
