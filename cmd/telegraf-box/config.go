package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/models"
)

// loadPlugin reads the plugin config file the way Telegraf reads
// telegraf.conf: environment variables are substituted, the options of the
// one [[inputs.box_events]] table are decoded into the plugin, and an option
// that does not exist is an error naming its line and key (a misspelt
// "stream_typ" must not silently read the default stream). Telegraf's own
// per-input options (alias, name_override, tags, tagexclude, ...) are
// honoured as Telegraf would.
func loadPlugin(path string) (*models.RunningInput, error) {
	if path == "" {
		return nil, errors.New("-config is required: the path of a file holding one [[inputs.box_events]] table (or use -demo)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := config.NewConfig()
	if err := cfg.LoadConfigData(data, path); err != nil {
		return nil, err
	}
	if n := len(cfg.Outputs) + len(cfg.Processors) + len(cfg.Aggregators); n > 0 || len(cfg.Inputs) != 1 ||
		cfg.Inputs[0].Config.Name != "box_events" {
		return nil, fmt.Errorf("%s must hold exactly one [[inputs.box_events]] table and nothing else "+
			"(found %d inputs and %d other plugins); outputs belong in telegraf.conf", path, len(cfg.Inputs), n)
	}
	return cfg.Inputs[0], nil
}
