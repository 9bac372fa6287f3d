package boxsim

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The detections of issue 9, computed here over created_at as the Grafana rules will
// compute them over InfluxDB: each a count (or a distinct count) per key over a
// sliding window. Benign traffic must stay at or below benignMax; every scenario with
// its default Count must reach scenarioMin within its window.
type detection struct {
	name      string
	window    time.Duration
	benignMax int // the most benign traffic may reach (the alert fires above it)
	key       func(d Directory, ev simEvent) (key, value string, ok bool)
	distinct  bool // count distinct values per key rather than events
}

var detections = []detection{
	{
		name: "failed logins per user", window: 5 * time.Minute, benignMax: 4,
		key: func(_ Directory, ev simEvent) (string, string, bool) {
			return ev.Source.Login, "", ev.Type == "FAILED_LOGIN"
		},
	},
	{
		name: "users with failed logins per IP", window: 10 * time.Minute, benignMax: 3, distinct: true,
		key: func(_ Directory, ev simEvent) (string, string, bool) {
			return ev.IP, ev.Source.Login, ev.Type == "FAILED_LOGIN"
		},
	},
	{
		name: "downloads per user", window: 10 * time.Minute, benignMax: 20,
		key: func(_ Directory, ev simEvent) (string, string, bool) {
			return ev.CreatedBy.Login, "", ev.Type == "DOWNLOAD" && ev.CreatedBy.ID != "2"
		},
	},
	{
		name: "external collaborations and shared links per user", window: 15 * time.Minute, benignMax: 4,
		key: func(d Directory, ev simEvent) (string, string, bool) {
			switch ev.Type {
			case "COLLABORATION_INVITE":
				return ev.CreatedBy.Login, "", ev.AccessibleBy != nil && d.External(ev.AccessibleBy.Login)
			case "SHARE", "ITEM_SHARED_UPDATE":
				return ev.CreatedBy.Login, "", true
			}
			return "", "", false
		},
	},
	{
		name: "Shield alerts at risk 60 or more", window: time.Hour, benignMax: 0,
		key: func(_ Directory, ev simEvent) (string, string, bool) {
			a := ev.Details.ShieldAlert
			return "", "", a != nil && a.RiskScore >= 60
		},
	},
	{
		name: "admin grants (role other than user, admin group, new app)", window: time.Hour, benignMax: 0,
		key: func(d Directory, ev simEvent) (string, string, bool) {
			switch ev.Type {
			case "CHANGE_ADMIN_ROLE":
				return "", "", ev.Source.Role != "user"
			case "GROUP_ADD_USER":
				return "", "", ev.Source.GroupName == d.AdminGroup.Name
			case "ENTERPRISE_APP_AUTHORIZATION_UPDATE":
				return "", "", ev.Source.APIKey != DefaultClientID
			}
			return "", "", false
		},
	},
	{
		name: "deletions per user", window: 10 * time.Minute, benignMax: 12,
		key: func(_ Directory, ev simEvent) (string, string, bool) {
			return ev.CreatedBy.Login, "", ev.Type == "DELETE"
		},
	},
}

// peak is the largest count a detection reaches, where, and when.
type peak struct {
	count int
	key   string
	at    time.Time
}

// peakOf returns the largest count of det over any window, per key, of events (in
// created_at order).
func peakOf(d Directory, det detection, events []simEvent) peak {
	type hit struct {
		at    time.Time
		value string
	}
	byKey := map[string][]hit{}
	for _, ev := range events {
		if key, value, ok := det.key(d, ev); ok {
			byKey[key] = append(byKey[key], hit{ev.CreatedAt, value})
		}
	}
	var best peak
	for key, hits := range byKey {
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].at.Before(hits[j].at) })
		values, lo := map[string]int{}, 0
		for hi := range hits {
			values[hits[hi].value]++
			for !hits[lo].at.After(hits[hi].at.Add(-det.window)) { // keep (at-window, at]
				if values[hits[lo].value]--; values[hits[lo].value] == 0 {
					delete(values, hits[lo].value)
				}
				lo++
			}
			n := hi - lo + 1
			if det.distinct {
				n = len(values)
			}
			if n > best.count {
				best = peak{n, key, hits[hi].at}
			}
		}
	}
	return best
}

// TestServer_EmitTrafficBenign runs a week of benign traffic for a few seeds and
// reports, per detection, the most the benign traffic reaches: the figures alert
// thresholds must stay above.
func TestServer_EmitTrafficBenign(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	peaks := make([]peak, len(detections))
	var riskMax, anonymousDownloads int
	types := map[string]int{}
	var downloadsPerDay []float64 // each employee's mean per weekday
	for _, seed := range seeds {
		h := newHarness(t, Options{Seed: seed, MaxEvents: 1_000_000})
		start := time.Date(2025, 3, 10, 0, 0, 0, 0, enterpriseZone) // a Monday
		rep, err := h.sim.EmitTraffic(Traffic{Start: start, Duration: 7 * 24 * time.Hour})
		require.NoError(t, err)
		events, _ := decodeSim(t, h.sim.Events(StreamAdminLogs))
		require.Len(t, events, rep.Enterprise)
		d := h.sim.Directory()
		for i, det := range detections {
			if p := peakOf(d, det, events); p.count > peaks[i].count {
				peaks[i] = p
			}
		}
		perUser := map[string]int{}
		for _, ev := range events {
			types[ev.Type]++
			require.False(t, ev.CreatedAt.Before(start), ev.CreatedAt)
			require.True(t, ev.CreatedAt.Before(start.Add(7*24*time.Hour)), ev.CreatedAt)
			if a := ev.Details.ShieldAlert; a != nil {
				riskMax = max(riskMax, a.RiskScore)
			}
			if ev.Type == "DOWNLOAD" {
				if ev.CreatedBy.ID == "2" {
					anonymousDownloads++
				} else {
					perUser[ev.CreatedBy.Login]++
				}
			}
		}
		for _, e := range d.Employees {
			downloadsPerDay = append(downloadsPerDay, float64(perUser[e.Login])/(5+2*weekendShare))
		}
	}
	for i, det := range detections {
		p := peaks[i]
		t.Logf("benign max of %-52s per %-6s %3d (%s at %s)", det.name, det.window, p.count, p.key, p.at.Format(time.RFC3339))
		require.LessOrEqual(t, p.count, det.benignMax, det.name)
	}
	slices.Sort(downloadsPerDay)
	t.Logf("benign downloads per employee and weekday: median %.1f, max %.1f; anonymous downloads %d a week",
		downloadsPerDay[len(downloadsPerDay)/2], downloadsPerDay[len(downloadsPerDay)-1], anonymousDownloads/len(seeds))
	t.Logf("benign Shield risk scores at most %d", riskMax)
	t.Logf("benign events a week (mean of %d seeds): %s", len(seeds), formatCounts(types, len(seeds)))
	// Every family the detections watch has benign traffic to stay silent over.
	for _, typ := range []string{
		"FAILED_LOGIN", "LOGIN", "DOWNLOAD", "COLLABORATION_INVITE", "SHARE", "ITEM_SHARED_UPDATE",
		"SHIELD_ALERT", "CHANGE_ADMIN_ROLE", "GROUP_ADD_USER", "ENTERPRISE_APP_AUTHORIZATION_UPDATE", "DELETE",
	} {
		require.Positive(t, types[typ], typ)
	}
	require.Less(t, riskMax, 50)
}

func formatCounts(counts map[string]int, runs int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + strconv.Itoa(counts[k]/runs) + " ")
	}
	return b.String()
}

// TestServer_EmitTrafficScenarios injects every scenario into a day of benign traffic
// and checks that each detection fires on its scenario's events and on nothing else.
func TestServer_EmitTrafficScenarios(t *testing.T) {
	h := newHarness(t, Options{Seed: 11, MaxEvents: 1_000_000, StreamingDisorder: true, NoAuth: true})
	start := time.Date(2025, 3, 12, 0, 0, 0, 0, enterpriseZone)
	at := func(hour int) time.Time { return start.Add(time.Duration(hour) * time.Hour) }
	scenarios := []Scenario{
		{Kind: ScenarioFailedLogins, At: at(10)},
		{Kind: ScenarioPasswordSpray, At: at(11)},
		{Kind: ScenarioMassDownload, At: at(13)},
		{Kind: ScenarioExternalSharing, At: at(14)},
		{Kind: ScenarioShieldAlert, At: at(15)},
		{Kind: ScenarioPrivilegeEscalation, At: at(16)},
		{Kind: ScenarioMassDeletion, At: at(17)},
	}
	rep, err := h.sim.EmitTraffic(Traffic{Start: start, Duration: 24 * time.Hour, Scenarios: scenarios})
	require.NoError(t, err)
	events, _ := decodeSim(t, h.sim.Events(StreamAdminLogs))
	require.True(t, slices.IsSortedFunc(events, func(a, b simEvent) int { return a.CreatedAt.Compare(b.CreatedAt) }),
		"admin_logs is chronological")
	streaming := h.drain("", StreamAdminLogsStreaming, 500) // flushes what disorder held back
	require.False(t, slices.IsSorted(streaming))
	require.ElementsMatch(t, idsOf(h.sim.Events(StreamAdminLogs)), streaming)

	d := h.sim.Directory()
	injected := map[string]bool{}
	for _, sr := range rep.Scenarios {
		for _, id := range sr.EventIDs {
			injected[id] = true
		}
	}
	var benign []simEvent
	for _, ev := range events {
		if !injected[ev.ID] {
			benign = append(benign, ev)
		}
	}
	require.Len(t, benign, rep.Enterprise-len(injected))
	for i, det := range detections {
		sr := rep.Scenarios[i]
		require.LessOrEqual(t, peakOf(d, det, benign).count, det.benignMax, det.name)
		p := peakOf(d, det, events)
		t.Logf("%-60s scenario %-20s peak %3d (benign at most %d)", det.name, sr.Scenario.Kind, p.count, det.benignMax)
		require.Greater(t, p.count, det.benignMax, det.name)
		require.False(t, p.at.Before(sr.First), "%s: peak at %s, before the scenario", det.name, p.at)
		require.False(t, p.at.After(sr.Last.Add(det.window)), "%s: peak at %s, after the scenario", det.name, p.at)
		// The other scenarios do not set it off.
		var others []simEvent
		for _, ev := range events {
			if !slices.Contains(sr.EventIDs, ev.ID) {
				others = append(others, ev)
			}
		}
		require.LessOrEqual(t, peakOf(d, det, others).count, det.benignMax, "%s fires without %s", det.name, sr.Scenario.Kind)
	}
}

func TestServer_EmitTrafficDeterministic(t *testing.T) {
	run := func(seed uint64, scenarios ...Scenario) (TrafficReport, map[Stream][]string) {
		s := New(Options{Seed: seed, MaxEvents: 100_000, StreamingDuplicateRate: 0.05, StreamingDisorder: true})
		defer s.Close()
		start := time.Date(2025, 3, 12, 6, 30, 0, 0, time.UTC)
		rep, err := s.EmitTraffic(Traffic{Start: start, Duration: 6 * time.Hour, UserStream: true, Scenarios: scenarios})
		require.NoError(t, err)
		out := map[Stream][]string{}
		for _, stream := range []Stream{StreamAll, StreamAdminLogs, StreamAdminLogsStreaming} {
			for _, e := range s.Events(stream) {
				out[stream] = append(out[stream], e.Position+" "+string(e.JSON))
			}
		}
		return rep, out
	}
	sc := Scenario{Kind: ScenarioMassDownload, At: time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)}
	rep1, events1 := run(4, sc)
	rep2, events2 := run(4, sc)
	require.Equal(t, rep1, rep2)
	require.Equal(t, events1, events2)
	rep3, events3 := run(5, sc)
	require.NotEqual(t, events1[StreamAdminLogs], events3[StreamAdminLogs])
	require.NotEqual(t, rep1.Scenarios[0].EventIDs, rep3.Scenarios[0].EventIDs)

	// A scenario does not change the benign traffic around it.
	benign, _ := run(4)
	require.Equal(t, rep1.Benign, benign.Benign)
	require.Equal(t, rep1.Enterprise-300, benign.Enterprise)
}

func TestServer_EmitTrafficWindow(t *testing.T) {
	h := newHarness(t, Options{Seed: 2, Retention: 14 * 24 * time.Hour})
	rep, err := h.sim.EmitTraffic(Traffic{Duration: 3 * time.Hour})
	require.NoError(t, err)
	now := h.clock.Now()
	require.True(t, rep.End.Equal(now))
	require.True(t, rep.Start.Equal(now.Add(-3*time.Hour)))
	events := h.sim.Events(StreamAdminLogs)
	require.Len(t, events, rep.Enterprise)
	total := 0
	for _, n := range rep.Benign {
		total += n
	}
	require.Equal(t, rep.Enterprise, total)
	for _, e := range events {
		require.False(t, e.CreatedAt.Before(rep.Start))
		require.True(t, e.CreatedAt.Before(rep.End))
		require.True(t, strings.HasSuffix(e.CreatedAt.Format(time.RFC3339), "-08:00"))
	}
	require.Empty(t, h.sim.Events(StreamAll), "no user stream unless asked")

	// The clock is untouched and traffic can continue where it ended.
	require.True(t, h.clock.Now().Equal(now))
	h.clock.Add(time.Hour)
	next, err := h.sim.EmitTraffic(Traffic{Start: rep.End, Duration: time.Hour})
	require.NoError(t, err)
	require.Len(t, h.sim.Events(StreamAdminLogs), rep.Enterprise+next.Enterprise)
}

func TestDirectory(t *testing.T) {
	s := New(Options{Seed: 1})
	defer s.Close()
	d := s.Directory()
	require.Equal(t, DefaultEnterpriseDomains(), d.Domains)
	require.Len(t, d.Employees, DefaultEmployees)
	require.Equal(t, d.Employees[:2], d.Admins)
	ids, logins := map[string]bool{}, map[string]bool{}
	inSecond := 0
	for _, e := range d.Employees {
		require.False(t, d.External(e.Login), e.Login)
		require.Regexp(t, `^[a-z.]+@`, e.Login)
		ids[e.ID], logins[e.Login] = true, true
		if strings.HasSuffix(e.Login, "@"+d.Domains[1]) {
			inSecond++
		}
	}
	require.Len(t, ids, len(d.Employees))
	require.Len(t, logins, len(d.Employees))
	require.Positive(t, inSecond)
	for _, u := range append(append([]User{d.Service}, d.Partners...), d.Personal...) {
		require.True(t, d.External(u.Login), u.Login)
	}
	require.False(t, d.External("Someone@EXAMPLE.COM"))
	require.False(t, d.External(""))
	require.True(t, d.External("x@example.com.evil.test"))
	require.NotContains(t, d.Groups, d.AdminGroup)

	other := New(Options{Seed: 1, EnterpriseDomains: []string{"acme.test"}, Employees: 300})
	defer other.Close()
	od := other.Directory()
	require.Len(t, od.Employees, 300)
	require.Equal(t, "ceo@acme.test", od.Employees[0].Login)
	require.Equal(t, d.Employees[0].ID, od.Employees[0].ID)
	require.True(t, od.External(d.Employees[0].Login))
}
