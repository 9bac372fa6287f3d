package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

// The documents whose [[inputs.box_events]] snippets users copy, relative to
// this package.
var snippetDocs = []string{"../../README.md", "../../plugins/inputs/box_events/README.md", "../../docs/AUTH.md"}

// tomlBlock is a fenced TOML block of a Markdown document (indented ones, in
// lists, too).
var tomlBlock = regexp.MustCompile("(?ms)^[ \t]*```toml[^\n]*\n(.*?)\n[ \t]*```")

// pluginTable is the start of a plugin's table: [[inputs.box_events]],
// [[secretstores.os]] ...
var pluginTable = regexp.MustCompile(`\[\[[a-z_]+\.[a-z_]+\]\]`)

// boxEventsSnippets returns the box_events tables of the documents' TOML
// blocks, each alone: a block that also holds another plugin's table (a
// secret store) is cut to its box_events table.
func boxEventsSnippets(t *testing.T) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, doc := range snippetDocs {
		buf, err := os.ReadFile(doc)
		require.NoError(t, err)
		for i, m := range tomlBlock.FindAllStringSubmatch(string(buf), -1) {
			block := m[1]
			starts := pluginTable.FindAllStringIndex(block, -1)
			for j, s := range starts {
				end := len(block)
				if j+1 < len(starts) {
					end = starts[j+1][0]
				}
				if table := block[s[0]:end]; strings.Contains(table, "[[inputs.box_events]]") {
					out[filepath.Base(filepath.Dir(doc))+"/"+filepath.Base(doc)+"#"+string(rune('0'+i))] = table
				}
			}
		}
	}
	require.GreaterOrEqual(t, len(out), 8, "the documents' [[inputs.box_events]] snippets: %v", out)
	return out
}

// TestDocs_SnippetsLoad: every [[inputs.box_events]] snippet of the documents
// loads as written with telegraf-box's plugin.conf loader (the execd binary)
// and with Telegraf's own config loader, which loads it compiled in: every
// option it names exists and takes the value's type. A secret-store reference
// (@{store:key}, compiled in only) loads, and telegraf-box's Init then refuses
// it naming the option, as the plugin README says.
func TestDocs_SnippetsLoad(t *testing.T) {
	t.Setenv("BOX_CLIENT_SECRET", "s3cr3t")
	for name, snippet := range boxEventsSnippets(t) {
		t.Run(name, func(t *testing.T) {
			ri, err := loadPlugin(writeConf(t, snippet))
			require.NoError(t, err, "telegraf-box's loader:\n%s", snippet)
			cfg := config.NewConfig()
			require.NoError(t, cfg.LoadConfigData([]byte(snippet), name), "Telegraf's loader:\n%s", snippet)
			require.Len(t, cfg.Inputs, 1)

			ref := regexp.MustCompile(`(?m)^\s*([a-z_]+)\s*=\s*"@\{[^}]+\}"`).FindStringSubmatch(snippet)
			if ref == nil {
				return
			}
			err = ri.Init()
			require.ErrorContains(t, err, ref[1]+" refers to a secret store")
		})
	}
}

// commentedOption is an option of sample.conf shown commented out, with its
// default or an example value.
var commentedOption = regexp.MustCompile(`(?m)^  # ([a-z_]+) = (.*)$`)

// sampleExamples are the options sample.conf shows with an example rather than
// their default, which is empty or, for poll_interval, the stream type's.
var sampleExamples = map[string]bool{
	"created_after": true, "poll_interval": true, "jwt_config_file": true, "refresh_token_file": true,
	"tls_ca": true, "tls_cert": true, "tls_key": true, "http_proxy_url": true,
}

// TestDocs_SampleConfOptions: the plugin's sample.conf (the README's
// Configuration section) documents every option the plugin takes, each one it
// documents exists in both loaders, and a value shown as the default is the
// default (compiled in; telegraf-box's own defaults of commit_delay and
// max_undelivered_pages are checked by TestDocs_ExecdDefaults).
func TestDocs_SampleConfOptions(t *testing.T) {
	buf, err := os.ReadFile("../../plugins/inputs/box_events/sample.conf")
	require.NoError(t, err)
	sample := string(buf)
	uncommented := commentedOption.ReplaceAllStringFunc(sample, func(line string) string {
		m := commentedOption.FindStringSubmatch(line)
		if m[1] == "tls_ca" || m[1] == "tls_cert" || m[1] == "tls_key" {
			return line // Telegraf reads the files when it loads the option
		}
		return "  " + m[1] + " = " + m[2]
	})
	_, err = loadPlugin(writeConf(t, uncommented))
	require.NoError(t, err, "every option of sample.conf, uncommented, with telegraf-box's loader")
	require.NoError(t, config.NewConfig().LoadConfigData([]byte(uncommented), "sample.conf"), "with Telegraf's loader")

	documented := make(map[string]bool)
	for _, m := range regexp.MustCompile(`(?m)^  (?:# )?([a-z_]+) = `).FindAllStringSubmatch(sample, -1) {
		documented[m[1]] = true
	}
	typ := reflect.TypeFor[box_events.BoxEvents]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); f.IsExported() && name != "" && name != "-" {
			require.True(t, documented[name], "option %s is accepted but sample.conf does not document it", name)
		}
	}

	for _, m := range commentedOption.FindAllStringSubmatch(sample, -1) {
		option, value := m[1], m[2]
		if sampleExamples[option] {
			continue
		}
		def := inputs.Inputs["box_events"]().(*box_events.BoxEvents)
		cfg := config.NewConfig()
		require.NoError(t, cfg.LoadConfigData([]byte("[[inputs.box_events]]\n  "+option+" = "+value+"\n"), "sample.conf"))
		got := cfg.Inputs[0].Input.(*box_events.BoxEvents)
		require.Equal(t, optionValues(t, def), optionValues(t, got),
			"sample.conf shows %s = %s as the default; the plugin's default differs", option, value)
	}
}

// optionValues is what the options of p hold, secrets read, empty lists as nil.
func optionValues(t *testing.T, p *box_events.BoxEvents) map[string]any {
	t.Helper()
	out := make(map[string]any)
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Type == reflect.TypeFor[config.Secret]():
			s := v.Field(i).Addr().Interface().(*config.Secret)
			text := ""
			if !s.Empty() {
				buf, err := s.Get()
				require.NoError(t, err)
				text = buf.String()
				buf.Destroy()
			}
			out[f.Name] = text
		case f.Type.Kind() == reflect.Slice && v.Field(i).Len() == 0:
			out[f.Name] = nil
		default:
			out[f.Name] = v.Field(i).Interface()
		}
	}
	return out
}

// TestDocs_ExecdDefaults: the defaults sample.conf gives for telegraf-box
// (execd) are the ones it uses.
func TestDocs_ExecdDefaults(t *testing.T) {
	buf, err := os.ReadFile("../../plugins/inputs/box_events/sample.conf")
	require.NoError(t, err)
	sample := strings.Join(strings.Fields(strings.ReplaceAll(string(buf), "##", "")), " ")
	pages := regexp.MustCompile(`telegraf-box \(execd\) defaults this to (\d+)`).FindStringSubmatch(sample)
	require.NotNil(t, pages, "sample.conf names telegraf-box's max_undelivered_pages")
	delay := regexp.MustCompile(`telegraf-box defaults this to (\d+s)`).FindStringSubmatch(sample)
	require.NotNil(t, delay, "sample.conf names telegraf-box's commit_delay")

	factory := inputs.Inputs["box_events"]
	t.Cleanup(func() { inputs.Add("box_events", factory) })
	useExecdDefaults()
	ri, err := loadPlugin(writeConf(t, "[[inputs.box_events]]\n"))
	require.NoError(t, err)
	p := ri.Input.(*box_events.BoxEvents)
	require.Equal(t, pages[1], strconv.Itoa(p.MaxUndeliveredPages))
	want, err := time.ParseDuration(delay[1])
	require.NoError(t, err)
	require.Equal(t, want, time.Duration(p.CommitDelay))
}
