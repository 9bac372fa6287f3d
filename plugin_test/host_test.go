package plugin_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIntegrationExecdHostTagIsTheAgents: under execd the host tag of box_events' points
// is the agent's, as for any input: its hostname setting, or no tag at all with
// omit_hostname, which the README gives as one way to keep two high-availability
// collectors' points one series. telegraf-box added the name of the machine it ran on
// itself, before Telegraf saw the points, so a configured hostname was overridden and
// omit_hostname left the tag in: a collector's points became series of their own, and a
// container's new name at each restart began new ones.
func TestIntegrationExecdHostTagIsTheAgents(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	const events = 30
	sim.EmitEnterprise(events)

	for _, c := range []struct {
		name, hostname string
		want           []string // the host tag's values in InfluxDB; "" is no host tag
	}{
		{name: "omit_hostname", want: []string{""}},
		{name: "hostname", hostname: "collector-1", want: []string{"collector-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			database := "box_host_" + c.name
			logPath := filepath.Join(dir, "telegraf.log")
			logTailOnFailure(t, logPath)
			agent := agentConfig{hostname: c.hostname, keepHost: true, telegraf: telegraf, telegrafBox: telegrafBox}
			setup := writeExecdConfigWith(t, dir, agent, []streamConfig{{simURL: sim.URL(), stream: enterpriseStream}},
				influxOutputTable(db.url, database))
			killLeftoverChildren(t, setup.confPaths()...)
			proc := startProcess(t, "telegraf", logPath, setup.argv...)

			var hosts []string
			waitFor(t, 60*time.Second, "every event in InfluxDB", func() (bool, string) {
				res, err := db.query(database, `SELECT COUNT("event_id") FROM "box_events" GROUP BY "host"`)
				if err != nil {
					return false, err.Error()
				}
				hosts = hosts[:0]
				var total int64
				for _, s := range res.Series {
					hosts = append(hosts, s.Tags["host"])
					if len(s.Values) == 1 && len(s.Values[0]) == 2 {
						if n, ok := s.Values[0][1].(json.Number); ok {
							v, err := n.Int64()
							if err != nil {
								return false, err.Error()
							}
							total += v
						}
					}
				}
				return total >= events, fmt.Sprintf("%d points, host tags %q", total, hosts)
			})
			proc.stop(t)
			sort.Strings(hosts)
			require.Equal(t, c.want, hosts, "the host tags of box_events' points (\"\": none)")
			requireNoCrash(t, logPath)
		})
	}
}
