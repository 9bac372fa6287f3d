package box_events

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// TestCategory_CoversDocumentedTypes checks the category table against the event types Box
// documents (testdata/event_types.txt): each has a category of its own, none is "other".
func TestCategory_CoversDocumentedTypes(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "event_types.txt"))
	require.NoError(t, err)
	defer f.Close()
	var documented []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			documented = append(documented, line)
		}
	}
	require.NoError(t, sc.Err())
	require.Greater(t, len(documented), 190)
	for _, eventType := range documented {
		require.NotEqual(t, categoryOther, categoryOf(eventType), "%s has no category", eventType)
	}
	known := []string{categoryAuthentication, categoryFileAccess, categorySharing, categoryCollaboration, categoryUserAdmin,
		categorySecurity, categoryAppsTokens, categoryMetadata, categoryTasksComments, categoryBoxSign, categoryPolicy}
	seen := make(map[string]bool)
	for eventType, c := range categories {
		require.Contains(t, known, c, eventType)
		require.Contains(t, documented, eventType, "the table holds documented types only")
		seen[c] = true
	}
	require.Len(t, seen, len(known), "every category is used")
	require.Equal(t, categoryOther, categoryOf("SOMETHING_BOX_ADDS_LATER"))
	require.Equal(t, categoryOther, categoryOf(""))
	require.Equal(t, categoryOther, categoryOf("login"), "types are matched as Box spells them")
}

func TestInit_MetricOptions(t *testing.T) {
	sim := boxsim.New(boxsim.Options{})
	for _, tt := range []struct {
		name   string
		modify func(*BoxEvents)
		err    string
	}{
		{"user_tag", func(p *BoxEvents) { p.UserTag = "email" }, `invalid user_tag "email": want "login", "id" or "none"`},
		{"enterprise_domains", func(p *BoxEvents) { p.EnterpriseDomains = []string{"example.com", "@example.org"} },
			`invalid entry "@example.org" in enterprise_domains`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlugin(sim, "admin_logs")
			p.BaseURL = "https://api.box.com"
			tt.modify(p)
			require.ErrorContains(t, p.Init(), tt.err)
		})
	}

	// The options change how events become metrics, not what is read: the state identity, and
	// so which state_file a configuration may resume, stays the same.
	plain := newPlugin(sim, "admin_logs")
	plain.BaseURL = "https://api.box.com"
	require.NoError(t, plain.Init())
	shaped := newPlugin(sim, "admin_logs")
	shaped.BaseURL = "https://api.box.com"
	shaped.UserTag = "none"
	shaped.EventJSON = true
	shaped.EnterpriseDomains = []string{"Example.com"}
	require.NoError(t, shaped.Init())
	require.Equal(t, plain.id.id(), shaped.id.id())
	require.Equal(t, userTagNone, shaped.cfg.userTag)
	require.Equal(t, []string{"example.com"}, shaped.cfg.domains)
	require.Equal(t, userTagLogin, plain.cfg.userTag, "the default")
}

// TestEndToEnd_Scenarios reads attacks injected into benign traffic from the simulated Box
// and checks the fields the detections use arrive typed.
func TestEndToEnd_Scenarios(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 9, PositionFormat: boxsim.PositionNumber})
	rep, err := sim.EmitTraffic(boxsim.Traffic{
		Duration:   3 * time.Hour,
		UserStream: true,
		Scenarios: []boxsim.Scenario{
			{Kind: boxsim.ScenarioShieldAlert, RiskScore: 85},
			{Kind: boxsim.ScenarioExternalSharing, Count: 8},
			{Kind: boxsim.ScenarioPrivilegeEscalation},
			{Kind: boxsim.ScenarioMassDownload, Count: 20},
		},
	})
	require.NoError(t, err)
	shield, sharing, escalation, downloads := rep.Scenarios[0], rep.Scenarios[1], rep.Scenarios[2], rep.Scenarios[3]

	p := newPlugin(sim, "admin_logs")
	p.EnterpriseDomains = sim.Directory().Domains
	p.EventJSON = true
	acc, out := run(t, p)
	waitCaughtUp(t, p, out, sim, boxsim.StreamAdminLogs)
	require.Empty(t, errorTexts(acc))
	byID := metricsByID(acc.GetTelegrafMetrics())
	require.Len(t, byID, len(sim.ProducedIDs(boxsim.StreamAdminLogs)))

	// The Shield alert: score and rule as numbers and strings, the alerted user and address.
	require.Len(t, shield.EventIDs, 1)
	m := byID[shield.EventIDs[0]]
	require.NotNil(t, m)
	require.Equal(t, "security", tag(m, "category"))
	require.Equal(t, int64(85), field(m, "shield_risk_score"))
	require.IsType(t, int64(0), field(m, "shield_rule_id"))
	require.IsType(t, int64(0), field(m, "shield_alert_id"))
	require.Equal(t, "Suspicious Sessions", field(m, "shield_rule_category"))
	require.Equal(t, "high", field(m, "shield_priority"))
	require.Equal(t, shield.User.Login, field(m, "shield_user_login"))
	require.Equal(t, shield.IP, field(m, "shield_ip"))
	var whole map[string]any
	require.NoError(t, json.Unmarshal([]byte(field(m, "event_json").(string)), &whole), "event_json is the event as JSON")
	require.Equal(t, shield.EventIDs[0], whole["event_id"])

	// External sharing: invitations of outsiders as Editor are external; shared links open.
	invites, links := 0, 0
	for _, id := range sharing.EventIDs {
		m := byID[id]
		require.NotNil(t, m, id)
		switch tag(m, "event_type") {
		case "COLLABORATION_INVITE":
			invites++
			require.Equal(t, "collaboration", tag(m, "category"))
			require.Equal(t, "Editor", field(m, "collab_role"))
			require.Equal(t, true, field(m, "external"), "invited %v", field(m, "accessible_by_login"))
			require.IsType(t, false, field(m, "collab_performed_by_admin"))
		case "SHARE", "ITEM_SHARED_UPDATE":
			links++
			require.Equal(t, "sharing", tag(m, "category"))
			require.NotEmpty(t, field(m, "shared_link_id"))
			require.IsType(t, int64(0), field(m, "size"))
		}
	}
	require.Positive(t, invites)
	require.Positive(t, links)

	// Privilege escalation: the new role of the promoted user, the admin group, the app.
	roles, groups, apps := 0, 0, 0
	for _, id := range escalation.EventIDs {
		m := byID[id]
		require.NotNil(t, m, id)
		switch tag(m, "event_type") {
		case "CHANGE_ADMIN_ROLE":
			roles++
			require.Equal(t, "user_admin", tag(m, "category"))
			require.Equal(t, "coadmin", field(m, "source_role"))
			require.Equal(t, false, field(m, "external"), "an employee's login")
		case "GROUP_ADD_USER":
			groups++
			require.Equal(t, "user_admin", tag(m, "category"))
			require.NotEmpty(t, field(m, "source_group_name"))
		case "ENTERPRISE_APP_AUTHORIZATION_UPDATE":
			apps++
			require.Equal(t, "apps_tokens", tag(m, "category"))
			require.NotEmpty(t, field(m, "source_api_key"))
		}
	}
	require.Positive(t, roles)
	require.Positive(t, groups)
	require.Positive(t, apps)

	// Benign traffic too: every metric has a category, and no event leaves a raw JSON object
	// in additional_details.
	for _, m := range byID {
		require.NotEmpty(t, tag(m, "category"))
		if v, ok := m.GetField("additional_details"); ok {
			require.NotEqual(t, byte('{'), v.(string)[0])
		}
	}

	// The user stream: file sources with their folder path, size and sha1.
	u := newPlugin(sim, "all")
	uacc, uout := run(t, u)
	waitCaughtUp(t, u, uout, sim, boxsim.StreamAll)
	require.Empty(t, errorTexts(uacc))
	ubyID := metricsByID(uacc.GetTelegrafMetrics())
	require.NotEmpty(t, downloads.UserEventIDs)
	for _, id := range downloads.UserEventIDs {
		m := ubyID[id]
		require.NotNil(t, m, id)
		require.Equal(t, "ITEM_DOWNLOAD", tag(m, "event_type"))
		require.Equal(t, "file_access", tag(m, "category"))
		path, ok := field(m, "source_path").(string)
		require.True(t, ok)
		require.True(t, strings.HasPrefix(path, "/All Files/"), path)
		require.IsType(t, int64(0), field(m, "source_size"))
		require.Len(t, field(m, "source_sha1"), 40)
	}
}

func metricsByID(ms []telegraf.Metric) map[string]telegraf.Metric {
	out := make(map[string]telegraf.Metric, len(ms))
	for _, m := range ms {
		id, _ := m.GetField("event_id")
		out[id.(string)] = m
	}
	return out
}

func tag(m telegraf.Metric, key string) string {
	v, _ := m.GetTag(key)
	return v
}

func field(m telegraf.Metric, key string) any {
	v, _ := m.GetField(key)
	return v
}
