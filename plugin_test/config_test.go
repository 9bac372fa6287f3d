package plugin_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// pageSize is small so that even a few hundred events span many pages, tracking
// groups and commits.
const pageSize = 50

// streamConfig is one [[inputs.box_events]] table.
type streamConfig struct {
	simURL      string
	stream      string
	stateFile   string // plugin state_file; "" leaves it out
	commitDelay string // execd only; "" leaves it out
	pageSize    int    // 0: the package's pageSize
	maxPages    int    // max_undelivered_pages; 0 leaves it out
	eventTypes  string // event_types as TOML, e.g. `["LOGIN"]`; "" leaves it out
	extra       string // more lines for the table, as TOML
}

// tomlString quotes s as a TOML basic string (Go's quoting is valid TOML for the paths
// and URLs used here).
func tomlString(s string) string {
	return strconv.Quote(s)
}

// boxEventsTable renders the plugin's table: the simulator, its default app, the
// whole history ("0") and a 1s poll so that the enterprise stream keeps up.
func boxEventsTable(c streamConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[inputs.box_events]]\n")
	fmt.Fprintf(&b, "  base_url = %s\n", tomlString(c.simURL))
	fmt.Fprintf(&b, "  stream_type = %s\n", tomlString(c.stream))
	fmt.Fprintf(&b, "  start_position = \"0\"\n")
	size := pageSize
	if c.pageSize > 0 {
		size = c.pageSize
	}
	fmt.Fprintf(&b, "  page_size = %d\n", size)
	fmt.Fprintf(&b, "  poll_interval = \"1s\"\n")
	fmt.Fprintf(&b, "  timeout = \"10s\"\n")
	fmt.Fprintf(&b, "  auth = \"client_credentials\"\n")
	fmt.Fprintf(&b, "  client_id = %s\n", tomlString(boxsim.DefaultClientID))
	fmt.Fprintf(&b, "  client_secret = %s\n", tomlString(boxsim.DefaultClientSecret))
	fmt.Fprintf(&b, "  subject_type = \"enterprise\"\n")
	fmt.Fprintf(&b, "  subject_id = %s\n", tomlString(boxsim.DefaultEnterpriseID))
	if c.stateFile != "" {
		fmt.Fprintf(&b, "  state_file = %s\n", tomlString(c.stateFile))
	}
	if c.commitDelay != "" {
		fmt.Fprintf(&b, "  commit_delay = %s\n", tomlString(c.commitDelay))
	}
	if c.maxPages > 0 {
		fmt.Fprintf(&b, "  max_undelivered_pages = %d\n", c.maxPages)
	}
	if c.eventTypes != "" {
		fmt.Fprintf(&b, "  event_types = %s\n", c.eventTypes)
	}
	b.WriteString(c.extra)
	return b.String()
}

// agentTable flushes every second (the tests wait on the outputs) and keeps a buffer
// far larger than anything a test produces, so that no metric is dropped for space.
// statefile "" leaves the agent's statefile out.
func agentTable(statefile string) string {
	return agentConfig{statefile: statefile}.table()
}

// agentConfig is the [agent] table; zero fields take agentTable's defaults.
type agentConfig struct {
	statefile   string
	bufferLimit int    // metric_buffer_limit (default 100000)
	diskBuffer  string // buffer_directory for buffer_strategy "disk"; "" keeps the memory buffer
	hostname    string // "" omits the host tag altogether
	flush       string // flush_interval ("1s" when empty)
	keepHost    bool   // execd: no tagexclude = ["host"], the host tag is left to the agent

	telegraf, telegrafBox string // execd: the binaries that run it
}

func (a agentConfig) table() string {
	limit := a.bufferLimit
	if limit == 0 {
		limit = 100000
	}
	var b strings.Builder
	b.WriteString("[agent]\n")
	b.WriteString("  interval = \"10s\"\n")
	b.WriteString("  round_interval = false\n")
	flush := a.flush
	if flush == "" {
		flush = "1s"
	}
	fmt.Fprintf(&b, "  flush_interval = %s\n", tomlString(flush))
	b.WriteString("  flush_jitter = \"0s\"\n")
	fmt.Fprintf(&b, "  metric_batch_size = %d\n", min(1000, limit))
	fmt.Fprintf(&b, "  metric_buffer_limit = %d\n", limit)
	if a.hostname == "" {
		b.WriteString("  omit_hostname = true\n")
	} else {
		fmt.Fprintf(&b, "  hostname = %s\n", tomlString(a.hostname))
	}
	if a.statefile != "" {
		fmt.Fprintf(&b, "  statefile = %s\n", tomlString(a.statefile))
	}
	if a.diskBuffer != "" {
		b.WriteString("  buffer_strategy = \"disk\"\n")
		fmt.Fprintf(&b, "  buffer_directory = %s\n", tomlString(a.diskBuffer))
	}
	return b.String()
}

// execdTable runs telegraf-box the way the README tells users to, and (as the
// README's high-availability setup says) without the host tag, which would make two
// collectors' points of one event two series.
// keepHost leaves the tagexclude out.
func execdTable(telegrafBox, pluginConf string, keepHost bool) string {
	table := fmt.Sprintf(`[[inputs.execd]]
  command = [%s, "-config", %s, "-poll_interval_disabled"]
  signal = "none"
  restart_delay = "1s"
  data_format = "influx"
`, tomlString(telegrafBox), tomlString(pluginConf))
	if !keepHost {
		table += "  tagexclude = [\"host\"]\n"
	}
	return table
}

func fileOutputTable(path string) string {
	return fmt.Sprintf("[[outputs.file]]\n  files = [%s]\n  data_format = \"influx\"\n", tomlString(path))
}

func influxOutputTable(url, database string) string {
	return fmt.Sprintf("[[outputs.influxdb]]\n  urls = [%s]\n  database = %s\n  timeout = \"5s\"\n",
		tomlString(url), tomlString(database))
}

// writeFile writes a config file into the test's temp dir and returns its path.
func writeFile(t *testing.T, dir, name string, parts ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(parts, "\n")), 0o600))
	return path
}

// execdSetup is a real Telegraf running one telegraf-box per stream.
type execdSetup struct {
	argv        []string          // starts Telegraf
	pluginConfs map[string]string // stream -> plugin.conf: identifies its telegraf-box
}

// writeExecdConfig writes one plugin.conf per stream and a telegraf.conf that runs
// them through inputs.execd, with the given output tables.
func writeExecdConfig(t *testing.T, dir, telegraf, telegrafBox string, streams []streamConfig, outputs ...string) execdSetup {
	t.Helper()
	return writeExecdConfigWith(t, dir, agentConfig{telegraf: telegraf, telegrafBox: telegrafBox}, streams, outputs...)
}

// writeExecdConfigWith is writeExecdConfig with an agent table of its own; agent
// names the binaries too.
func writeExecdConfigWith(t *testing.T, dir string, agent agentConfig, streams []streamConfig, outputs ...string) execdSetup {
	t.Helper()
	setup := execdSetup{pluginConfs: make(map[string]string, len(streams))}
	parts := []string{agent.table()}
	for _, s := range streams {
		conf := writeFile(t, dir, "plugin-"+s.stream+".conf", boxEventsTable(s))
		setup.pluginConfs[s.stream] = conf
		parts = append(parts, execdTable(agent.telegrafBox, conf, agent.keepHost))
	}
	parts = append(parts, outputs...)
	setup.argv = []string{agent.telegraf, "--config", writeFile(t, dir, "telegraf.conf", parts...)}
	return setup
}

// confPaths lists the plugin.conf files, to find or wait for the telegraf-box children.
func (s execdSetup) confPaths() []string {
	out := make([]string, 0, len(s.pluginConfs))
	for _, p := range s.pluginConfs {
		out = append(out, p)
	}
	return out
}

// writeCompiledInConfig writes a telegraf.conf for plugin_test/telegrafrun with one
// box_events table per stream and returns the command that runs it.
func writeCompiledInConfig(t *testing.T, dir, runner, statefile string, streams []streamConfig, outputs ...string) []string {
	t.Helper()
	return writeCompiledInConfigWith(t, dir, agentConfig{statefile: statefile}, runner, streams, outputs...)
}

// writeCompiledInConfigWith is writeCompiledInConfig with an agent table of its own;
// each box_events table drops the host tag, as the README's high-availability setup
// says.
func writeCompiledInConfigWith(t *testing.T, dir string, agent agentConfig, runner string, streams []streamConfig,
	outputs ...string) []string {
	t.Helper()
	parts := []string{agent.table()}
	for _, s := range streams {
		s.extra += "  tagexclude = [\"host\"]\n"
		parts = append(parts, boxEventsTable(s))
	}
	parts = append(parts, outputs...)
	return []string{runner, "-config", writeFile(t, dir, "telegraf.conf", parts...)}
}
