package box_events

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/persister"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Upgrades from older builds of main. Each testdata/upgrade/<commit>.json was written by that
// commit's own plugin (testdata/upgrade/capture_test.go.txt, copied into a worktree of the
// commit and run there): it read twelve admin_logs_streaming events from the simulated Box on
// 127.0.0.1:47613 (base_url is part of the plugin ID) with state_file set, every metric
// accepted, and was stopped once the head was committed. The fixture keeps what a user keeps
// across an upgrade: the state_file, GetState as the agent's statefile stores it, the plugin
// ID the agent filed it under, and the IDs of three more configurations.
//
//	aebb08b26d24  2026-11-26  first build, state_file, no plugin ID (Telegraf's own config ID)
//	92f5e949de28  2026-11-26  plugin ID (base_url, stream, auth, subject, as_user)
//	5846748c5bc4  2026-11-26  last build with that ID
//	7573b70cb6cb  2026-12-01  ID of the normalised identity; state_file records it
//	6ec717b60414  2026-12-01  recent_events (event keys) instead of recent_event_ids
//	caefefe9b296  2026-12-02  a week before this test
//	6e81d91dbe5a  2026-12-07  a build of the day
//
// <commit>-all.json are the same with the user stream "all" instead.
var upgradeFixtures = []string{"aebb08b", "92f5e94", "5846748", "7573b70", "6ec717b", "caefefe", "6e81d91",
	"92f5e94-all", "6e81d91-all"}

// upgradeAddr is where the fixtures' simulated Box listened.
const upgradeAddr = "127.0.0.1:47613"

type upgradeFixture struct {
	Commit     string            `json:"commit"`
	PluginID   string            `json:"plugin_id"`
	ConfigIDs  map[string]string `json:"config_ids"`
	StateFile  json.RawMessage   `json:"state_file"`
	AgentState json.RawMessage   `json:"agent_state"`
	Events     []struct {
		ID       string `json:"id"`
		Position string `json:"position"`
	} `json:"events"`
	Emitted []string `json:"emitted"`
}

func loadUpgradeFixture(t *testing.T, name string) upgradeFixture {
	t.Helper()
	f := readUpgradeFixture(t, name)
	require.Len(t, f.Emitted, 12, "the old build emitted every event")
	return f
}

// stream is the stream the old build read.
func (f upgradeFixture) stream() boxsim.Stream {
	var st State
	if json.Unmarshal(f.StateFile, &st) != nil || st.StreamType == "" {
		panic("fixture without stream_type")
	}
	return boxsim.Stream(st.StreamType)
}

func readUpgradeFixture(t *testing.T, name string) upgradeFixture {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join("testdata", "upgrade", name+".json"))
	require.NoError(t, err)
	var f upgradeFixture
	require.NoError(t, json.Unmarshal(buf, &f))
	require.Len(t, f.Events, 12)
	return f
}

// upgradeSim is the fixtures' simulated Box with their twelve events, and then what Box holds
// once the new build starts: a repeat of two committed events (Box's at-least-once delivery)
// and three new events. The new build must emit the three new events and nothing else.
func upgradeSim(t *testing.T, f upgradeFixture) *boxsim.Server {
	t.Helper()
	sim, add := upgradeBox(t, f)
	add(12)
	add(7)
	for i := 13; i <= 15; i++ {
		add(i)
	}
	return sim
}

// upgradeBox is the fixtures' simulated Box with their twelve events, at the positions the
// old build read them, and the function that adds event upgrade-<i>.
func upgradeBox(t *testing.T, f upgradeFixture) (*boxsim.Server, func(i int)) {
	t.Helper()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	mock := mockClock()
	mock.Set(t0.Add(time.Hour))
	sim := boxsim.New(boxsim.Options{Seed: 20261207, Clock: mock})
	ln, err := net.Listen("tcp", upgradeAddr)
	if err != nil {
		t.Skipf("the fixtures' address %s is taken: %v", upgradeAddr, err)
	}
	ln.Close()
	_, err = sim.Start(upgradeAddr)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	add := func(i int) {
		raw := fmt.Sprintf(`{"type":"event","event_id":"upgrade-%02d","event_type":"LOGIN","created_at":%q,`+
			`"created_by":{"type":"user","id":"11446498","name":"Ann","login":"ann@example.com"},"ip_address":"10.0.0.%d"}`,
			i, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i)
		add := sim.AddEnterpriseEvent // as the old build's test added them
		if !f.stream().Enterprise() {
			add = sim.AddUserEvent
		}
		_, err := add(json.RawMessage(raw))
		require.NoError(t, err)
	}
	for i := 1; i <= 12; i++ {
		add(i)
	}
	evs := sim.Events(f.stream())
	require.Len(t, evs, 12)
	for i, e := range evs {
		require.Equal(t, f.Events[i].ID, e.ID)
		require.Equal(t, f.Events[i].Position, e.Position, "the simulated Box places %s where the old build read it", e.ID)
	}
	return sim, add
}

// upgradePlugin is the fixtures' configuration.
func upgradePlugin(sim *boxsim.Server, f upgradeFixture) *BoxEvents {
	p := newPlugin(sim, string(f.stream()))
	p.PageSize = 5
	return p
}

// requireResumes runs p (initialised, its state loaded) until it committed the head and
// checks it emitted exactly the events the old build had not.
func requireResumes(t *testing.T, sim *boxsim.Server, p *BoxEvents) {
	t.Helper()
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)
	catchUp(t, sim, p, nil, &output{acc: acc})
	require.Equal(t, []string{"upgrade-13", "upgrade-14", "upgrade-15"}, eventIDs(acc.GetTelegrafMetrics()),
		"the new build emits what the old one had not, once, and no repeat of what it had")
	require.Empty(t, errorTexts(acc))
}

// The state_file of every older build resumes in the current one.
func TestUpgrade_StateFileResumes(t *testing.T) {
	for _, name := range upgradeFixtures {
		t.Run(name, func(t *testing.T) {
			f := loadUpgradeFixture(t, name)
			sim := upgradeSim(t, f)
			p := upgradePlugin(sim, f)
			p.StateFile = filepath.Join(t.TempDir(), "box_events.state")
			require.NoError(t, os.WriteFile(p.StateFile, f.StateFile, 0o600))
			require.NoError(t, p.Init())
			requireResumes(t, sim, p)
		})
	}
}

// upgradeNewID are the builds that filed the agent's state under the plugin ID of today:
// the ID of the normalised identity dates from 7573b70. Before it, the state is filed under
// another ID, and the README's "Upgrading" says how to carry it over.
var upgradeNewID = map[string]bool{"7573b70": true, "6ec717b": true, "caefefe": true, "6e81d91": true, "6e81d91-all": true}

// oldStatefile writes the agent's statefile as Telegraf's persister wrote it for the old build:
// the plugin's saved state under its ID (for the first build, which had none, under Telegraf's
// hash of the configuration), beside another plugin's state.
func oldStatefile(t *testing.T, f upgradeFixture) string {
	t.Helper()
	id := f.PluginID
	if id == "" {
		id = "telegraf-config-hash"
	}
	path := filepath.Join(t.TempDir(), "telegraf.state")
	buf, err := json.Marshal(map[string][]byte{id: f.AgentState, "other": []byte(`{"offset":3}`)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	return path
}

// loadStatefile loads the agent's statefile into p as the agent does: by the ID p gives now.
func loadStatefile(t *testing.T, path string, p *BoxEvents) {
	t.Helper()
	per := &persister.Persister{Filename: path}
	require.NoError(t, per.Init())
	require.NoError(t, per.Register(p.ID(), p))
	require.NoError(t, per.Load())
}

// The agent's statefile of every build since 7573b70 resumes in the current one: Telegraf
// finds the state under the ID the plugin has now.
func TestUpgrade_AgentStateResumes(t *testing.T) {
	for _, name := range upgradeFixtures {
		if !upgradeNewID[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			f := loadUpgradeFixture(t, name)
			sim := upgradeSim(t, f)
			p := upgradePlugin(sim, f)
			require.NoError(t, p.Init())
			loadStatefile(t, oldStatefile(t, f), p)
			require.Equal(t, f.Events[11].Position, committed(p), "the agent's saved position was found")
			requireResumes(t, sim, p)
		})
	}
}

// Builds before 7573b70 filed the agent's state under another ID, which Telegraf does not
// find (the input would start from start_position: with "now", the events between the stop
// and the start would never be read). The README's "Upgrading" carries the state over into
// a state_file before the new build starts, as this test does: its jq command prints each
// entry of the statefile that holds a stream_position, decoded.
func TestUpgrade_AgentStateBeforeNewIDCarriedOverByStateFile(t *testing.T) {
	for _, name := range upgradeFixtures {
		if upgradeNewID[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			f := loadUpgradeFixture(t, name)
			sim := upgradeSim(t, f)
			statefile := oldStatefile(t, f)

			p := upgradePlugin(sim, f)
			require.NoError(t, p.Init())
			loadStatefile(t, statefile, p)
			require.Empty(t, committed(p), "the README says Telegraf does not find it")
			p.Stop()

			// jq -r 'to_entries[] | .value | @base64d | select(contains("\"stream_position\""))'
			buf, err := os.ReadFile(statefile)
			require.NoError(t, err)
			var states map[string][]byte
			require.NoError(t, json.Unmarshal(buf, &states))
			var saved [][]byte
			for _, st := range states {
				if strings.Contains(string(st), `"stream_position"`) {
					saved = append(saved, st)
				}
			}
			require.Len(t, saved, 1)

			p = upgradePlugin(sim, f)
			p.StateFile = filepath.Join(t.TempDir(), "box_events.state")
			require.NoError(t, os.WriteFile(p.StateFile, append(saved[0], '\n'), 0o600))
			require.NoError(t, p.Init())
			loadStatefile(t, statefile, p)
			requireResumes(t, sim, p)
		})
	}
}

// The plugin ID of a few configurations is the one every build since 7573b70 gave, so that
// the agent's statefile applies after an upgrade. Any change to what goes into the identity,
// or how it is normalised or hashed, fails here.
func TestUpgrade_PluginIDUnchanged(t *testing.T) {
	configs := map[string]func(*BoxEvents){
		"admin_logs_streaming": func(*BoxEvents) {},
		"all_user": func(p *BoxEvents) {
			p.StreamType = "all"
			p.SubjectType = "user"
			p.SubjectID = boxsim.DefaultUserID
		},
		"admin_logs_filtered": func(p *BoxEvents) {
			p.StreamType = "admin_logs"
			p.EventTypes = []string{"login", "ITEM_UPLOAD"}
			p.CreatedAfter = "2026-11-01T00:00:00Z"
			p.StartPosition = "0"
		},
		"streaming_since_time_as_user": func(p *BoxEvents) {
			p.StartPosition = "2026-11-20T10:00:00+01:00"
			p.AsUser = "20110002"
		},
		"changes_jwt_beginning": func(p *BoxEvents) {
			p.StreamType = "changes"
			p.Auth = "jwt"
			p.ClientID = ""
			p.ClientSecret = config.NewSecret(nil)
			p.SubjectType = "user"
			p.SubjectID = ""
			p.JWTConfigFile = "/etc/telegraf/box_config.json"
			p.StartPosition = "beginning"
			p.BaseURL = "https://API.box.com/"
		},
	}
	for _, name := range upgradeFixtures {
		t.Run(name, func(t *testing.T) {
			f := loadUpgradeFixture(t, name)
			if !upgradeNewID[name] {
				t.Skip("an ID before 7573b70: see TestUpgrade_AgentStateBeforeNewIDCarriedOverByStateFile")
			}
			require.Len(t, f.ConfigIDs, len(configs))
			for cfg, set := range configs {
				p := inputs.Inputs["box_events"]().(*BoxEvents)
				p.StreamType = "admin_logs_streaming"
				p.ClientID = boxsim.DefaultClientID
				p.ClientSecret = config.NewSecret([]byte(boxsim.DefaultClientSecret))
				p.SubjectID = boxsim.DefaultEnterpriseID
				set(p)
				require.Equal(t, f.ConfigIDs[cfg], p.ID(), cfg)
			}
		})
	}
}

// A build stopped while on_invalid_position "now" waited for Box's current position saved
// stream_position "" with the recent events: before 4acb5e3 in state_file too
// (testdata/upgrade/79a51ea-nopos.json, written by 79a51ea: Box refused the position after
// upgrade-04 was committed, and the request for the current one hung until Stop), and to this
// day in the agent's statefile, whose GetState it is. The state_file was refused ("holds no
// stream_position") and the input did not start; the agent's state was ignored and the input
// started again from start_position, here the oldest events. Both resume where the stopped
// build was going: Box's current position, with the saved recent events.
func TestUpgrade_StateWithoutPositionResumesAtCurrentPosition(t *testing.T) {
	f := readUpgradeFixture(t, "79a51ea-nopos")
	require.Equal(t, []string{"upgrade-01", "upgrade-02", "upgrade-03", "upgrade-04"}, f.Emitted)
	for _, agent := range []bool{false, true} {
		t.Run(map[bool]string{false: "state_file", true: "agent statefile"}[agent], func(t *testing.T) {
			sim, add := upgradeBox(t, f)
			head := sim.HeadPosition(f.stream())
			p := upgradePlugin(sim, f)
			p.OnInvalidPosition = onInvalidNow
			if agent {
				require.NoError(t, p.Init())
				f.PluginID, f.AgentState = p.ID(), f.StateFile
				loadStatefile(t, oldStatefile(t, f), p)
			} else {
				p.StateFile = filepath.Join(t.TempDir(), "box_events.state")
				require.NoError(t, os.WriteFile(p.StateFile, f.StateFile, 0o600))
				require.NoError(t, p.Init(), "the plugin must start from the state_file an older build wrote")
			}
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			t.Cleanup(p.Stop)
			out := &output{acc: acc}
			pump(t, nil, out, 0, func() bool { return committed(p) == head }, "Box's current position was never committed")
			add(4) // Box repeats committed events
			add(3)
			for i := 13; i <= 15; i++ {
				add(i)
			}
			catchUp(t, sim, p, nil, out)
			require.Equal(t, []string{"upgrade-13", "upgrade-14", "upgrade-15"}, eventIDs(acc.GetTelegrafMetrics()))
			require.Empty(t, errorTexts(acc))
		})
	}
}

// A build stopped in the middle of an admin_logs backfill (testdata/upgrade/caefefe-backfill.json,
// written by caefefe with capture_backfill_test.go.txt: ten events older than the streaming
// history, the first admin_logs page of three committed, the second emitted but not accepted)
// resumes the backfill from its admin_logs position and hands over at the saved streaming
// position: the rest of the backfill and the events after the handover, each once.
func TestUpgrade_BackfillStateResumes(t *testing.T) {
	buf, err := os.ReadFile(filepath.Join("testdata", "upgrade", "caefefe-backfill.json"))
	require.NoError(t, err)
	var f struct {
		StateFile json.RawMessage `json:"state_file"`
		Logs      map[string][]struct {
			ID       string `json:"id"`
			Position string `json:"position"`
		} `json:"logs"`
		Emitted []string `json:"emitted"`
	}
	require.NoError(t, json.Unmarshal(buf, &f))
	var saved State
	require.NoError(t, json.Unmarshal(f.StateFile, &saved))
	require.NotNil(t, saved.Backfill)

	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	mock := mockClock()
	mock.Set(t0)
	// As on Box, and unlike the old build's simulator, admin_logs_streaming keeps two weeks:
	// only the backfill reaches the ten events.
	sim := boxsim.New(boxsim.Options{Seed: 20261208, Clock: mock,
		StreamRetention: map[boxsim.Stream]time.Duration{boxsim.StreamAdminLogsStreaming: 14 * 24 * time.Hour}})
	ln, err := net.Listen("tcp", upgradeAddr)
	if err != nil {
		t.Skipf("the fixtures' address %s is taken: %v", upgradeAddr, err)
	}
	ln.Close()
	_, err = sim.Start(upgradeAddr)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	add := func(i int, created time.Time) {
		raw := fmt.Sprintf(`{"type":"event","event_id":"backfill-%02d","event_type":"LOGIN","created_at":%q,`+
			`"created_by":{"type":"user","id":"11446498","name":"Ann","login":"ann@example.com"},"ip_address":"10.0.1.%d"}`,
			i, created.Format(time.RFC3339), i)
		_, err := sim.AddEnterpriseEvent(json.RawMessage(raw))
		require.NoError(t, err)
	}
	for i := 1; i <= 10; i++ {
		add(i, t0.Add(-20*24*time.Hour+time.Duration(i)*time.Hour))
	}
	for _, stream := range []boxsim.Stream{boxsim.StreamAdminLogs, boxsim.StreamAdminLogsStreaming} {
		var got []string
		for _, e := range sim.Events(stream) {
			got = append(got, e.ID+"@"+e.Position)
		}
		var want []string
		for _, e := range f.Logs[string(stream)] {
			want = append(want, e.ID+"@"+e.Position)
		}
		require.Subset(t, want, got, "the simulated Box places the %s events where the old build read them", stream)
	}
	require.Equal(t, saved.Backfill.HandoverPosition, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	before, err := time.Parse(time.RFC3339Nano, saved.Backfill.CreatedBefore)
	require.NoError(t, err)
	mock.Set(before.Add(time.Hour))
	add(11, before.Add(time.Minute)) // after the backfill began: streaming has them
	add(12, before.Add(2*time.Minute))

	p := newPlugin(sim, "admin_logs_streaming")
	p.StartPosition = t0.Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	p.PageSize = 3
	p.backfillSettle = 0 // the plugin runs on the real clock
	p.StateFile = filepath.Join(t.TempDir(), "box_events.state")
	require.NoError(t, os.WriteFile(p.StateFile, f.StateFile, 0o600))
	acc, out := run(t, p)
	pump(t, nil, out, 0, func() bool {
		return p.reader.currentBackfill() == nil && committed(p) == sim.HeadPosition(boxsim.StreamAdminLogsStreaming)
	}, "the backfill never handed over and caught up")
	want := []string{"backfill-04", "backfill-05", "backfill-06", "backfill-07", "backfill-08", "backfill-09", "backfill-10",
		"backfill-11", "backfill-12"}
	require.Equal(t, want, eventIDs(acc.GetTelegrafMetrics()), "the rest of the backfill and what came after, each once")
	require.Empty(t, errorTexts(acc))
}
