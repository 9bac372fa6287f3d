package plugin_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// docFiles are the files users read and copy from: every Markdown file of the
// repository and the two sample configurations, as paths relative to the
// repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".md") || strings.HasSuffix(rel, "sample.conf") {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, files, "README.md")
	require.Contains(t, files, "sample.conf")
	return files
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(rel)))
	require.NoError(t, err)
	return string(buf)
}

// scriptReference is a script of this repository named in a document.
var scriptReference = regexp.MustCompile(`\bscripts/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.sh\b`)

// TestDocs_ScriptsExist: every scripts/*.sh a document tells the user to run is in
// the repository.
func TestDocs_ScriptsExist(t *testing.T) {
	for _, doc := range docFiles(t) {
		for _, script := range slices.Compact(scriptReference.FindAllString(readDoc(t, doc), -1)) {
			require.FileExists(t, filepath.Join("..", script), "%s names %s, which does not exist", doc, script)
		}
	}
}

// markdownLink is an inline link's target or a reference definition's.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)|(?m)^\[[^\]]+\]:\s*(\S+)`)

// headingAnchors returns the anchors GitHub gives the headings of a Markdown
// document: lower case, punctuation but - and _ removed, spaces as -.
func headingAnchors(doc string) map[string]bool {
	anchors := make(map[string]bool)
	inCode := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		title, _, _ = strings.Cut(title, "<!--")
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestDocs_RelativeLinksResolve: every relative link of a Markdown document
// leads to a file of the repository, and to a heading of it when it names one.
// Links into Telegraf's own docs/ (the plugin README and docs/includes, which
// follow Telegraf's layout and resolve in Telegraf's tree) are left out.
func TestDocs_RelativeLinksResolve(t *testing.T) {
	for _, doc := range docFiles(t) {
		if !strings.HasSuffix(doc, ".md") {
			continue
		}
		text := readDoc(t, doc)
		for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
			link := m[1] + m[2]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") ||
				strings.HasSuffix(strings.SplitN(link, "#", 2)[0], "docs/CONFIGURATION.md") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			targetText := text
			if target != "" {
				path := filepath.Join("..", filepath.FromSlash(filepath.Dir(doc)), filepath.FromSlash(target))
				_, err := os.Stat(path)
				require.NoError(t, err, "%s links to %s, which does not exist", doc, link)
				if anchor == "" || !strings.HasSuffix(target, ".md") {
					continue
				}
				buf, err := os.ReadFile(path)
				require.NoError(t, err)
				targetText = string(buf)
			}
			if anchor != "" {
				require.True(t, headingAnchors(targetText)[anchor], "%s links to %s: no such heading", doc, link)
			}
		}
	}
}

// sectionReference is a section named in prose: the README's "Delivery
// guarantees", the plugin README's "Metrics".
var sectionReference = regexp.MustCompile(`\b(plugin )?README's\s+"([^"]+)"`)

// TestDocs_SectionsNamedExist: a section a document sends the reader to by name
// is a heading of that README.
func TestDocs_SectionsNamedExist(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^[ \t]*#+[ \t]?`)
	for _, doc := range docFiles(t) {
		text := readDoc(t, doc)
		if strings.HasSuffix(doc, ".conf") {
			text = comment.ReplaceAllString(text, "")
		}
		for _, m := range sectionReference.FindAllStringSubmatch(text, -1) {
			readme := "README.md"
			if m[1] != "" {
				readme = "plugins/inputs/box_events/README.md"
			}
			name := strings.Join(strings.Fields(m[2]), " ")
			anchor := strings.ReplaceAll(strings.ToLower(name), " ", "-")
			require.True(t, headingAnchors(readDoc(t, readme))[anchor], "%s sends the reader to the section %q of %s, which has none",
				doc, name, readme)
		}
	}
}

// replaceOnce replaces old by replacement in text, which must hold old exactly once.
func replaceOnce(t *testing.T, text, old, replacement string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(text, old), "%q once in the document", old)
	return strings.Replace(text, old, replacement, 1)
}

// TestIntegrationSampleConfAsWritten runs the repository's sample.conf, "a complete
// Telegraf configuration" running telegraf-box through inputs.execd, as the README
// tells users to: only its paths and InfluxDB's URL are replaced, plugin.conf is the
// plugin's sample.conf with the options a user must set (state_file among them, the
// client secret as ${BOX_CLIENT_SECRET} from Telegraf's environment, as docs/AUTH.md
// says), and a real Telegraf 1.37.2 must write every event of the simulated Box into
// InfluxDB's database "box" exactly once.
func TestIntegrationSampleConfAsWritten(t *testing.T) {
	requireIntegration(t)
	telegraf, telegrafBox := execdBinaries(t)
	requireInfluxDB(t)
	seed, _ := testSeed(t)
	db := startInfluxDB(t)
	sim := startSim(t, seed)
	sim.EmitUser(150)

	dir := t.TempDir()
	plugin := readDoc(t, "plugins/inputs/box_events/sample.conf")
	plugin = replaceOnce(t, plugin, `  # base_url = "https://api.box.com"`, "  base_url = "+tomlString(sim.URL()))
	plugin = replaceOnce(t, plugin, `  # start_position = "now"`, `  start_position = "beginning"`)
	plugin = replaceOnce(t, plugin, `  client_id = ""`, "  client_id = "+tomlString(boxsim.DefaultClientID))
	plugin = replaceOnce(t, plugin, `  client_secret = ""`, `  client_secret = "${BOX_CLIENT_SECRET}"`)
	plugin = replaceOnce(t, plugin, `  subject_id = ""`, "  subject_id = "+tomlString(boxsim.DefaultEnterpriseID))
	plugin = replaceOnce(t, plugin, `  # state_file = ""`, "  state_file = "+tomlString(filepath.Join(dir, "box.state")))
	pluginConf := writeFile(t, dir, "plugin.conf", plugin)

	conf := readDoc(t, "sample.conf")
	conf = replaceOnce(t, conf, `"/usr/local/bin/telegraf-box"`, tomlString(telegrafBox))
	conf = replaceOnce(t, conf, `"/etc/telegraf-box/plugin.conf"`, tomlString(pluginConf))
	conf = replaceOnce(t, conf, `"/var/lib/telegraf/buffer"`, tomlString(filepath.Join(dir, "buffer")))
	conf = replaceOnce(t, conf, `"http://127.0.0.1:8086"`, tomlString(db.url))
	require.Contains(t, conf, `database = "box"`)
	telegrafConf := writeFile(t, dir, "telegraf.conf", conf)

	logPath := filepath.Join(dir, "telegraf.log")
	logTailOnFailure(t, logPath)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer logFile.Close()
	cmd := exec.Command(telegraf, "--config", telegrafConf)
	cmd.Env = append(os.Environ(), "BOX_CLIENT_SECRET="+boxsim.DefaultClientSecret)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc := startCmd(t, "telegraf (sample.conf)", cmd)

	produced := map[string][]string{userStream: producedIDs(sim)[userStream]}
	waitFor(t, 2*time.Minute, "every event in InfluxDB's database box", allPresent(produced, db.eventIDs("box")))
	proc.stop(t)
	points, err := db.pointIDs("box", userStream)
	require.NoError(t, err)
	requireExactlyOnce(t, "InfluxDB", userStream, produced[userStream], points)
	requireNoCrash(t, logPath)
}

// readmeRuleRow returns the "Fires when" text of a rule's row in dashboards/README.md.
func readmeRuleRow(t *testing.T, uid string) string {
	t.Helper()
	for line := range strings.SplitSeq(readDoc(t, "dashboards/README.md"), "\n") {
		if strings.HasPrefix(line, "| `"+uid+"` |") {
			return strings.TrimSpace(strings.Split(line, "|")[2])
		}
	}
	require.Failf(t, "no row", "dashboards/README.md has no row for %s", uid)
	return ""
}

// TestDocs_LockedOutRuleAsDescribed: box-collector-locked-out fires when
// dashboards/README.md says it does, decided by the rule's own expressions over
// the series its queries would return for one collector.
func TestDocs_LockedOutRuleAsDescribed(t *testing.T) {
	var rule alertRule
	for _, r := range loadAlertRules(t) {
		if r.UID == "box-collector-locked-out" {
			rule = r
		}
	}
	require.Equal(t, "box-collector-locked-out", rule.UID)
	labels := map[string]string{"stream_type": "admin_logs_streaming", "id": "audit"}
	// failed and got: token requests failed and succeeded in the rule's 15
	// minutes; failures and tokens: the counters since the collector started.
	fires := func(failed, got, failures, tokens float64) bool {
		st, err := rule.decide(map[string][]alertSeries{
			"A": {{labels: labels, values: []float64{failed}}}, "B": {{labels: labels, values: []float64{got}}},
			"C": {{labels: labels, values: []float64{failures}}}, "D": {{labels: labels, values: []float64{tokens}}},
		})
		require.NoError(t, err)
		return len(st.firing) > 0
	}
	row := readmeRuleRow(t, rule.UID)
	require.Equal(t, "token requests failed in the last 15 minutes and none succeeded in them, or none has succeeded "+
		"since the collector started and one failed (`token_failures`, `token_refreshes`)", row)
	require.True(t, fires(1, 0, 1, 4), "%s: one failed token request in 15 minutes, none succeeded", row)
	require.False(t, fires(3, 1, 3, 5), "%s: three failed in 15 minutes, one succeeded", row)
	require.True(t, fires(0, 0, 2, 0), "%s: no token since the start, the failures older than 15 minutes", row)
	require.False(t, fires(0, 0, 0, 3), "%s: healthy", row)
}

// TestDocs_DatasourceReadsSampleConfDatabase: the shipped Grafana data source
// reads the database the shipped sample.conf writes, so that the dashboard and
// the alert rules see the events of a setup made of the two as they are.
func TestDocs_DatasourceReadsSampleConfDatabase(t *testing.T) {
	m := regexp.MustCompile(`(?m)^\[\[outputs\.influxdb\]\](?:\n[ \t]+.*)*?\n[ \t]+database = "([^"]+)"`).
		FindStringSubmatch(readDoc(t, "sample.conf"))
	require.NotNil(t, m, "sample.conf's [[outputs.influxdb]] names its database")
	var ds struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			JSONData struct {
				DBName string `yaml:"dbName"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(readDoc(t, "dashboards/provisioning/datasources.yaml")), &ds))
	require.Len(t, ds.Datasources, 1)
	require.Equal(t, influxDatasourceUID, ds.Datasources[0].UID)
	require.Equal(t, m[1], ds.Datasources[0].JSONData.DBName,
		"dashboards/provisioning/datasources.yaml reads another database than sample.conf writes")
}

// TestDocs_ArchitectureContractFields: the structs of internal/boxevents that
// docs/ARCHITECTURE.md spells out in its contract name every exported field the
// code has (a block ending in "..." lists only some, on purpose).
func TestDocs_ArchitectureContractFields(t *testing.T) {
	doc := readDoc(t, "docs/ARCHITECTURE.md")
	for _, typ := range []reflect.Type{
		reflect.TypeFor[boxevents.User](), reflect.TypeFor[boxevents.Source](), reflect.TypeFor[boxevents.Event](),
		reflect.TypeFor[boxevents.Page](), reflect.TypeFor[boxevents.EventsQuery](), reflect.TypeFor[boxevents.RealtimeServer](),
		reflect.TypeFor[boxevents.Config](), reflect.TypeFor[boxevents.Observer](), reflect.TypeFor[boxevents.Request](),
		reflect.TypeFor[boxevents.APIError](), reflect.TypeFor[boxevents.AuthError](), reflect.TypeFor[boxevents.DecodeError](),
	} {
		start := regexp.MustCompile(`type ` + typ.Name() + ` struct ?\{`).FindStringIndex(doc)
		require.NotNil(t, start, "docs/ARCHITECTURE.md has no type %s", typ.Name())
		depth, end := 0, start[1]-1
		for ; end < len(doc); end++ {
			if doc[end] == '{' {
				depth++
			} else if doc[end] == '}' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		block := doc[start[0]:end]
		if strings.Contains(block, "...") {
			continue
		}
		for i := range typ.NumField() {
			if f := typ.Field(i); f.IsExported() {
				require.Regexp(t, `\b`+f.Name+`\b`, block, "docs/ARCHITECTURE.md's %s has no field %s", typ.Name(), f.Name)
			}
		}
	}
}

// TestIntegrationDocsTelegrafConfigsCheck: the telegraf.conf snippets of the
// documents (the README's inputs.execd block, the plugin README's converter
// table) and the repository's sample.conf load in a real Telegraf 1.37.2
// (`telegraf config check`). Snippets with [[inputs.box_events]] are the
// plugin's, loaded by cmd/telegraf-box's TestDocs_SnippetsLoad; docs/AUTH.md's
// [[secretstores.os]] needs a Telegraf built with it, which the tests have not.
func TestIntegrationDocsTelegrafConfigsCheck(t *testing.T) {
	requireIntegration(t)
	telegraf, _ := execdBinaries(t)
	block := regexp.MustCompile("(?ms)^[ \t]*```toml[^\n]*\n(.*?)\n[ \t]*```")
	confs := map[string]string{"sample.conf": readDoc(t, "sample.conf")}
	for _, doc := range []string{"README.md", "plugins/inputs/box_events/README.md"} {
		for i, m := range block.FindAllStringSubmatch(readDoc(t, doc), -1) {
			if !strings.Contains(m[1], "[[inputs.box_events]]") {
				confs[doc+"#"+strconv.Itoa(i)] = m[1]
			}
		}
	}
	require.Len(t, confs, 3, "sample.conf, the README's execd block and the plugin README's converter table")
	dir := t.TempDir()
	for name, conf := range confs {
		path := writeFile(t, dir, strings.NewReplacer("/", "_", "#", "_").Replace(name)+".conf", conf)
		out, err := exec.Command(telegraf, "config", "check", "--config", path).CombinedOutput()
		require.NoError(t, err, "telegraf config check of %s:\n%s\n%s", name, conf, out)
	}
}

// TestDocs_ArchitectureLayoutComplete: the layout at the top of
// docs/ARCHITECTURE.md names every Go package and module of the repository.
func TestDocs_ArchitectureLayoutComplete(t *testing.T) {
	doc := readDoc(t, "docs/ARCHITECTURE.md")
	_, layout, ok := strings.Cut(doc, "\n```\n")
	require.True(t, ok, "docs/ARCHITECTURE.md starts with its layout block")
	layout, _, _ = strings.Cut(layout, "\n```\n")
	dirs := make(map[string]bool)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != ".." && (strings.HasSuffix(d.Name(), ".go") || d.Name() == "go.mod") {
			dirs[strings.TrimPrefix(dir, "../")] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.True(t, dirs["internal/boxevents"])
	for dir := range dirs {
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(dir)+`/ `, layout, "docs/ARCHITECTURE.md's layout does not name %s/", dir)
	}
}
