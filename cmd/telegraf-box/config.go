package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/models"
)

// loadPlugin reads the plugin config file the way Telegraf reads
// telegraf.conf: environment variables are substituted, the options of the
// one [[inputs.box_events]] table are decoded into the plugin, and an option
// that does not exist is an error naming its line and key (a misspelt
// "stream_typ" must not silently read the default stream). Telegraf's own
// per-input options (alias, name_override, tags, tagexclude, ...) are
// honoured as Telegraf would. Global tags are not: Telegraf's agent adds its
// own (host, [global_tags]) to what inputs.execd reads, as to any input's
// metrics, so the process adds none. It used to add the host name it saw,
// which overrode the agent's hostname and outlived its omit_hostname.
func loadPlugin(path string) (*models.RunningInput, error) {
	if path == "" {
		return nil, errors.New("-config is required: the path of a file holding one [[inputs.box_events]] table (or use -demo)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = unixText(data)
	raw := parseAsWritten(data)
	if err := checkNoAgentTable(raw); err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	cfg := config.NewConfig()
	cfg.Agent.OmitHostname = true // the agent running inputs.execd adds it
	if err := cfg.LoadConfigData(data, path); err != nil {
		return nil, err
	}
	if err := checkVariablesSet(raw); err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	if len(cfg.Tags) > 0 {
		return nil, fmt.Errorf("%s sets global tags (%s): they belong in telegraf.conf, whose agent adds them to what "+
			"inputs.execd reads; tags of this input only go in [inputs.box_events.tags]", path, strings.Join(slices.Sorted(maps.Keys(cfg.Tags)), ", "))
	}
	if n := len(cfg.Outputs) + len(cfg.Processors) + len(cfg.Aggregators); n > 0 || len(cfg.Inputs) != 1 ||
		cfg.Inputs[0].Config.Name != "box_events" {
		return nil, fmt.Errorf("%s must hold exactly one [[inputs.box_events]] table and nothing else "+
			"(found %d inputs and %d other plugins); outputs belong in telegraf.conf", path, len(cfg.Inputs), n)
	}
	return cfg.Inputs[0], nil
}

// unixText drops what a Windows editor adds to plugin.conf: a leading UTF-8 byte order
// mark (Notepad's "UTF-8 with BOM"), with which the file did not parse before Telegraf's
// loader dropped it, so that the checks below saw nothing; and CRLF line ends, which the
// TOML parser counts as two lines each, so that errors named the wrong line.
func unixText(data []byte) []byte {
	return bytes.ReplaceAll(bytes.TrimPrefix(data, []byte("\uFEFF")), []byte("\r\n"), []byte("\n"))
}

// checkNoAgentTable refuses an [agent] table. Telegraf's loader takes it, and
// nothing here uses it: "debug = true" would turn no debug line on (that is
// -debug) and "hostname" would set no host (the agent running inputs.execd
// adds it), so a setting there is lost without a word, as a misspelt option
// would be.
func checkNoAgentTable(tree *ast.Table) error {
	if agent, ok := tree.Fields["agent"].(*ast.Table); ok {
		return fmt.Errorf("line %d: an [agent] table has no effect here: agent settings belong in telegraf.conf, "+
			"whose agent runs inputs.execd; for debug lines pass -debug in the execd command", agent.Line)
	}
	return nil
}

// parseAsWritten parses plugin.conf before Telegraf substitutes environment
// variables, for the checks Telegraf's loader does not make. A file that
// parses only once substituted (a number given as ${PAGE_SIZE}) is left to
// Telegraf's loader: it comes back as an empty table.
func parseAsWritten(data []byte) *ast.Table {
	tree, err := toml.Parse(data)
	if err != nil {
		return &ast.Table{}
	}
	return tree
}

// variableReference is a reference to an environment variable without a
// default (${NAME:-default} always resolves).
var variableReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkVariablesSet refuses a string value that refers to an environment
// variable that is not set. Telegraf keeps such a reference as written, so
// the input would send "${BOX_CLIENT_SECRET}" to Box as the secret (not set
// in Telegraf's environment, which inputs.execd passes on), and Box would
// refuse it at run time as if the secret were wrong. The error says where to
// set it: not in the execd block's environment = [...], which would put the
// secret in telegraf.conf (docs/AUTH.md). Comments are not values.
func checkVariablesSet(tree *ast.Table) error {
	return walkValues(tree, func(key string, line int, v string) error {
		for _, m := range variableReference.FindAllStringSubmatch(v, -1) {
			if _, ok := os.LookupEnv(m[1]); !ok {
				return fmt.Errorf("line %d: %s refers to %s, but the environment variable %s is not set "+
					"(set %s in the environment Telegraf runs with, e.g. its service's environment file: "+
					"inputs.execd passes it on)", line, key, m[0], m[1], m[1])
			}
		}
		return nil
	})
}

// walkValues calls f with every string value below node, with its key and
// line.
func walkValues(node any, f func(key string, line int, v string) error) error {
	switch n := node.(type) {
	case *ast.Table:
		for _, name := range slices.Sorted(maps.Keys(n.Fields)) {
			if err := walkValues(n.Fields[name], f); err != nil {
				return err
			}
		}
	case []*ast.Table:
		for _, t := range n {
			if err := walkValues(t, f); err != nil {
				return err
			}
		}
	case *ast.KeyValue:
		return walkStrings(n.Value, func(v string) error { return f(n.Key, n.Line, v) })
	}
	return nil
}

// walkStrings calls f with v if it is a string, or with each string in it if
// it is an array.
func walkStrings(v ast.Value, f func(string) error) error {
	switch v := v.(type) {
	case *ast.String:
		return f(v.Value)
	case *ast.Array:
		for _, e := range v.Value {
			if err := walkStrings(e, f); err != nil {
				return err
			}
		}
	}
	return nil
}
