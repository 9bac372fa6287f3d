package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

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
	cfg := config.NewConfig()
	cfg.Agent.OmitHostname = true // the agent running inputs.execd adds it
	if err := cfg.LoadConfigData(data, path); err != nil {
		return nil, err
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
