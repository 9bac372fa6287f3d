package boxsim

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// simEvent is what the scenario and traffic tests read of an event, decoded from the
// JSON a client would get.
type simEvent struct {
	ID           string    `json:"event_id"`
	Type         string    `json:"event_type"`
	CreatedAt    time.Time `json:"created_at"`
	IP           string    `json:"ip_address"`
	CreatedBy    simUser   `json:"created_by"`
	AccessibleBy *simUser  `json:"accessible_by"`
	Source       struct {
		simUser
		Role       string  `json:"role"`
		ItemID     string  `json:"item_id"`
		ItemType   string  `json:"item_type"`
		GroupName  string  `json:"group_name"`
		UserID     string  `json:"user_id"`
		FolderID   string  `json:"folder_id"`
		APIKey     string  `json:"api_key"`
		SHA1       string  `json:"sha1"`
		Size       *int    `json:"size"`
		OwnedBy    simUser `json:"owned_by"`
		SharedLink *struct {
			Access string `json:"access"`
		} `json:"shared_link"`
		PathCollection *struct {
			TotalCount int `json:"total_count"`
		} `json:"path_collection"`
	} `json:"source"`
	Details struct {
		SharedLinkID string `json:"shared_link_id"`
		ServiceName  string `json:"service_name"`
		Role         string `json:"role"`
		ShieldAlert  *struct {
			RiskScore    int    `json:"risk_score"`
			Priority     string `json:"priority"`
			RuleCategory string `json:"rule_category"`
			RuleID       int    `json:"rule_id"`
			AlertID      int    `json:"alert_id"`
			User         struct {
				ID    int64  `json:"id"`
				Email string `json:"email"`
			} `json:"user"`
		} `json:"shield_alert"`
	} `json:"additional_details"`
}

type simUser struct {
	ID    string `json:"id"`
	Login string `json:"login"`
	Name  string `json:"name"`
}

// decodeSim decodes events of one stream, keyed by id too.
func decodeSim(t *testing.T, events []Event) ([]simEvent, map[string]simEvent) {
	t.Helper()
	out := make([]simEvent, 0, len(events))
	byID := make(map[string]simEvent, len(events))
	for _, e := range events {
		var ev simEvent
		require.NoError(t, json.Unmarshal(e.JSON, &ev), string(e.JSON))
		require.Equal(t, e.ID, ev.ID)
		out = append(out, ev)
		byID[ev.ID] = ev
	}
	return out, byID
}

// reported returns the events a scenario reported, in order, checking that each was
// served once and that they lie in [First, Last].
func reported(t *testing.T, ids []string, byID map[string]simEvent, rep ScenarioReport) []simEvent {
	t.Helper()
	requireUnique(t, ids)
	out := make([]simEvent, 0, len(ids))
	for _, id := range ids {
		ev, ok := byID[id]
		require.True(t, ok, "event %s was not served", id)
		require.False(t, ev.CreatedAt.Before(rep.First), ev.CreatedAt)
		require.False(t, ev.CreatedAt.After(rep.Last), ev.CreatedAt)
		out = append(out, ev)
	}
	require.True(t, slices.IsSortedFunc(out, func(a, b simEvent) int { return a.CreatedAt.Compare(b.CreatedAt) }))
	return out
}

func TestServer_InjectScenario(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sc    Scenario
		count int
		types map[string]int
		check func(t *testing.T, d Directory, rep ScenarioReport, evs []simEvent)
	}{
		{
			name: "FailedLogins", sc: Scenario{Kind: ScenarioFailedLogins, User: "priya@example.com", Succeed: true},
			count: 32, types: map[string]int{"FAILED_LOGIN": 30, "LOGIN": 1, "ADD_LOGIN_ACTIVITY_DEVICE": 1},
			check: func(t *testing.T, _ Directory, rep ScenarioReport, evs []simEvent) {
				require.Equal(t, "priya@example.com", rep.User.Login)
				require.Regexp(t, `^203\.0\.113\.\d+$`, rep.IP)
				for i, ev := range evs {
					require.Equal(t, rep.User.Login, ev.Source.Login) // the user whose login failed
					require.Equal(t, rep.User.ID, ev.CreatedBy.ID)
					require.Equal(t, rep.IP, ev.IP)
					if i < 30 {
						require.Equal(t, "FAILED_LOGIN", ev.Type)
					}
				}
				require.Equal(t, "LOGIN", evs[30].Type) // the takeover follows the burst
				require.Equal(t, 20*time.Second, evs[30].CreatedAt.Sub(evs[29].CreatedAt))
				require.Equal(t, 4*time.Minute-25*time.Second, evs[29].CreatedAt.Sub(evs[0].CreatedAt))
			},
		},
		{
			name: "ShieldAlertDefaults", sc: Scenario{Kind: ScenarioShieldAlert, Count: 3, Over: time.Hour},
			count: 3, types: map[string]int{"SHIELD_ALERT": 3},
			check: func(t *testing.T, _ Directory, rep ScenarioReport, evs []simEvent) {
				require.Equal(t, 85, rep.Scenario.RiskScore)
				require.Equal(t, "Suspicious Sessions", rep.Scenario.Category)
				ids := map[int]bool{}
				for _, ev := range evs {
					require.Equal(t, 85, ev.Details.ShieldAlert.RiskScore)
					require.Equal(t, "Suspicious Sessions", ev.Details.ShieldAlert.RuleCategory)
					require.Equal(t, rep.User.Login, ev.Details.ShieldAlert.User.Email)
					ids[ev.Details.ShieldAlert.AlertID] = true
				}
				require.Len(t, ids, 3)
				require.Equal(t, 30*time.Minute, evs[1].CreatedAt.Sub(evs[0].CreatedAt).Round(10*time.Minute))
			},
		},
		{
			name: "PasswordSpray", sc: Scenario{Kind: ScenarioPasswordSpray, Count: 20, IP: "203.0.113.9"},
			count: 20, types: map[string]int{"FAILED_LOGIN": 20},
			check: func(t *testing.T, _ Directory, rep ScenarioReport, evs []simEvent) {
				require.Empty(t, rep.User.ID)
				require.Len(t, rep.Targets, 20)
				users := map[string]bool{}
				for i, ev := range evs {
					require.Equal(t, "203.0.113.9", ev.IP)
					users[ev.Source.Login] = true
					require.Equal(t, rep.Targets[i].Login, ev.Source.Login)
				}
				require.Len(t, users, 20)
				require.Equal(t, 10*time.Minute, rep.Last.Sub(rep.First))
			},
		},
		{
			name: "MassDownload", sc: Scenario{Kind: ScenarioMassDownload},
			count: 300, types: map[string]int{"DOWNLOAD": 300},
			check: func(t *testing.T, d Directory, rep ScenarioReport, evs []simEvent) {
				require.NotContains(t, d.Admins, rep.User)
				items := map[string]bool{}
				for _, ev := range evs {
					require.Equal(t, rep.User.Login, ev.CreatedBy.Login)
					require.Equal(t, rep.IP, ev.IP)
					require.Equal(t, "file", ev.Source.ItemType)
					require.Equal(t, "Box Drive", ev.Details.ServiceName)
					items[ev.Source.ItemID] = true
				}
				require.Len(t, items, 300)
				require.Equal(t, 10*time.Minute, rep.Last.Sub(rep.First))
			},
		},
		{
			name: "ExternalSharing", sc: Scenario{Kind: ScenarioExternalSharing, User: "31337042", IP: "198.51.100.77"},
			count: 40, types: map[string]int{"COLLABORATION_INVITE": 20, "SHARE": 10, "ITEM_SHARED_UPDATE": 10},
			check: func(t *testing.T, d Directory, rep ScenarioReport, evs []simEvent) {
				require.Equal(t, "priya@example.com", rep.User.Login)
				require.NotEmpty(t, rep.Targets)
				for _, ev := range evs {
					require.Equal(t, "198.51.100.77", ev.IP)
					require.Equal(t, rep.User.ID, ev.CreatedBy.ID)
					if ev.Type == "COLLABORATION_INVITE" {
						require.True(t, d.External(ev.AccessibleBy.Login), ev.AccessibleBy.Login)
						require.Equal(t, ev.AccessibleBy.ID, ev.Source.UserID)
						require.Equal(t, "Editor", ev.Details.Role)
					} else {
						require.Len(t, ev.Details.SharedLinkID, 12)
					}
				}
			},
		},
		{
			name: "ShieldAlert", sc: Scenario{Kind: ScenarioShieldAlert, RiskScore: 92, Category: "Anomalous Download", User: "yuki.tanaka@example.com"},
			count: 1, types: map[string]int{"SHIELD_ALERT": 1},
			check: func(t *testing.T, _ Directory, rep ScenarioReport, evs []simEvent) {
				a := evs[0].Details.ShieldAlert
				require.NotNil(t, a)
				require.Equal(t, 92, a.RiskScore)
				require.Equal(t, "high", a.Priority)
				require.Equal(t, "Anomalous Download", a.RuleCategory)
				require.Equal(t, "yuki.tanaka@example.com", a.User.Email)
				require.EqualValues(t, 52873019, a.User.ID)
				require.Equal(t, "2", evs[0].CreatedBy.ID)
				require.Equal(t, rep.IP, evs[0].IP)
			},
		},
		{
			name: "PrivilegeEscalation", sc: Scenario{Kind: ScenarioPrivilegeEscalation, Count: 2},
			count: 5, types: map[string]int{"CHANGE_ADMIN_ROLE": 2, "GROUP_ADD_USER": 2, "ENTERPRISE_APP_AUTHORIZATION_UPDATE": 1},
			check: func(t *testing.T, d Directory, rep ScenarioReport, evs []simEvent) {
				require.Equal(t, d.Admins[1], rep.Actor)
				require.Len(t, rep.Targets, 2)
				require.Equal(t, rep.User, rep.Targets[0])
				for i, ev := range evs {
					require.Equal(t, d.Admins[1].ID, ev.CreatedBy.ID)
					switch ev.Type {
					case "CHANGE_ADMIN_ROLE":
						require.Equal(t, "coadmin", ev.Source.Role)
						require.Equal(t, rep.Targets[i/2].Login, ev.Source.Login)
					case "GROUP_ADD_USER":
						require.Equal(t, d.AdminGroup.Name, ev.Source.GroupName)
						require.Equal(t, rep.Targets[i/2].ID, ev.Source.UserID)
					default:
						require.NotEqual(t, DefaultClientID, ev.Source.APIKey)
						require.Equal(t, 4, i)
					}
				}
			},
		},
		{
			name: "MassDeletion", sc: Scenario{Kind: ScenarioMassDeletion, Count: 120, Over: 2 * time.Minute},
			count: 120, types: map[string]int{"DELETE": 120},
			check: func(t *testing.T, _ Directory, rep ScenarioReport, evs []simEvent) {
				items := map[string]bool{}
				for _, ev := range evs {
					require.Equal(t, rep.User.Login, ev.CreatedBy.Login)
					items[ev.Source.ItemType+ev.Source.ItemID] = true
				}
				require.Len(t, items, 120)
				require.Equal(t, 2*time.Minute, rep.Last.Sub(rep.First))
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Seed: 5})
			rep, err := h.sim.InjectScenario(tt.sc)
			require.NoError(t, err)
			require.Equal(t, tt.count, rep.Count)
			require.Equal(t, tt.types, rep.Types)
			require.Len(t, rep.EventIDs, tt.count)
			require.Empty(t, rep.UserEventIDs) // no Traffic.UserStream
			require.True(t, h.clock.Now().Equal(rep.Last), "the last event is now: %s", rep.Last)
			require.True(t, rep.Scenario.At.Equal(rep.First), "%s", rep.First)
			require.Equal(t, rep.Scenario.Over, rep.Last.Sub(rep.First)) // as given or defaulted

			admin, byID := decodeSim(t, h.sim.Events(StreamAdminLogs))
			require.Len(t, admin, tt.count, "nothing but the scenario")
			require.ElementsMatch(t, idsOf(h.sim.Events(StreamAdminLogs)), idsOf(h.sim.Events(StreamAdminLogsStreaming)))
			require.Empty(t, h.sim.Events(StreamAll))
			tt.check(t, h.sim.Directory(), rep, reported(t, rep.EventIDs, byID, rep))
		})
	}
}

func TestServer_InjectScenarioUserStream(t *testing.T) {
	h := newHarness(t, Options{Seed: 6})
	at := h.clock.Now().Add(-time.Hour)
	rep, err := h.sim.EmitTraffic(Traffic{UserStream: true, Scenarios: []Scenario{
		{Kind: ScenarioMassDownload, Count: 50, At: at},
		{Kind: ScenarioExternalSharing, Count: 8, At: at},
		{Kind: ScenarioMassDeletion, Count: 30, At: at},
		{Kind: ScenarioFailedLogins, Count: 5, At: at}, // no user-stream counterpart
	}})
	require.NoError(t, err)
	require.Equal(t, 93, rep.Enterprise)
	require.Equal(t, 88, rep.User)
	_, byID := decodeSim(t, h.sim.Events(StreamAll))
	want := map[ScenarioKind][]string{
		ScenarioMassDownload:    {"ITEM_DOWNLOAD"},
		ScenarioExternalSharing: {"COLLAB_INVITE_COLLABORATOR", "ITEM_SHARED_CREATE", "ITEM_SHARED_UPDATE"},
		ScenarioMassDeletion:    {"ITEM_TRASH"},
	}
	for _, sr := range rep.Scenarios {
		if sr.Scenario.Kind == ScenarioFailedLogins {
			require.Empty(t, sr.UserEventIDs)
			continue
		}
		require.Len(t, sr.UserEventIDs, sr.Count)
		for _, ev := range reported(t, sr.UserEventIDs, byID, sr) {
			require.Contains(t, want[sr.Scenario.Kind], ev.Type)
			require.Equal(t, sr.User.ID, ev.CreatedBy.ID)
			require.Regexp(t, hex40, ev.ID)
			require.NotNil(t, ev.Source.PathCollection, ev.Type)
			require.NotNil(t, ev.Source.Size, ev.Type)
			require.NotEmpty(t, ev.Source.OwnedBy.Login, ev.Type)
			switch ev.Type {
			case "ITEM_SHARED_CREATE", "ITEM_SHARED_UPDATE":
				require.Equal(t, "open", ev.Source.SharedLink.Access)
				require.Regexp(t, hex40, ev.Source.SHA1)
			case "ITEM_DOWNLOAD", "ITEM_TRASH":
				require.Equal(t, 2, ev.Source.PathCollection.TotalCount)
				require.Regexp(t, hex40, ev.Source.SHA1)
			}
		}
	}
}

func TestServer_InjectScenarioErrors(t *testing.T) {
	h := newHarness(t, Options{Employees: 10})
	for _, sc := range []Scenario{
		{Kind: "port_scan"},
		{Kind: ScenarioMassDownload, Count: -1},
		{Kind: ScenarioMassDownload, Over: -time.Second},
		{Kind: ScenarioMassDownload, User: "nobody@example.com"},
		{Kind: ScenarioShieldAlert, Category: "Suspicious Weather"},
		{Kind: ScenarioShieldAlert, RiskScore: 101},
		{Kind: ScenarioPasswordSpray, Count: 11},
		{Kind: ScenarioPrivilegeEscalation, Count: 9},
		{Kind: ScenarioFailedLogins, Succeed: true, Over: 20 * time.Second},
	} {
		_, err := h.sim.InjectScenario(sc)
		require.Error(t, err, "%+v", sc)
	}
	_, err := h.sim.EmitTraffic(Traffic{Duration: time.Hour, Scenarios: []Scenario{{Kind: ScenarioMassDownload}, {Kind: "nope"}}})
	require.ErrorContains(t, err, "scenario 1 (nope)")
	_, err = h.sim.EmitTraffic(Traffic{Duration: -time.Hour})
	require.Error(t, err)
	require.Empty(t, h.sim.Events(StreamAdminLogs), "nothing appended on error")
}
