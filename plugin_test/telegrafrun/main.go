// Command telegrafrun is test tooling for plugin_test: it runs Telegraf's own
// agent with the box_events input compiled in (no inputs.execd, no shim), so
// that the end-to-end tests can check the in-process mode, where the agent's
// statefile and the outputs' delivery tracking reach the plugin directly.
//
// It is deliberately minimal: one config file, the file, influxdb and influxdb_v2 outputs,
// logging to stderr, and SIGINT/SIGTERM for a clean stop (the agent then
// flushes its outputs and writes the statefile). It is not a Telegraf
// replacement and is not shipped.
//
// Usage: telegrafrun -config telegraf.conf [-test | -once] [-test-wait seconds]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/logger"
	_ "github.com/influxdata/telegraf/plugins/aggregators/merge"
	_ "github.com/influxdata/telegraf/plugins/outputs/file"
	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb"
	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb_v2"

	_ "github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

func main() {
	configFile := flag.String("config", "", "Telegraf configuration file")
	debug := flag.Bool("debug", false, "log debug messages")
	test := flag.Bool("test", false, "as telegraf --test: gather once, print the metrics to stdout, no outputs")
	once := flag.Bool("once", false, "as telegraf --once: gather once, write to the outputs and stop")
	testWait := flag.Int("test-wait", 0, "as telegraf --test-wait: seconds -test and -once wait for service inputs")
	flag.Parse()
	if err := run(*configFile, *debug, mode{test: *test, once: *once, wait: time.Duration(*testWait) * time.Second}); err != nil {
		fmt.Fprintf(os.Stderr, "E! telegrafrun: %s\n", err)
		os.Exit(1)
	}
}

// mode is how the agent runs: as a service, or as Telegraf's --test or --once.
type mode struct {
	test, once bool
	wait       time.Duration
}

func run(configFile string, debug bool, m mode) error {
	if configFile == "" {
		return errors.New("-config is required")
	}
	cfg := config.NewConfig()
	if err := cfg.LoadConfig(configFile); err != nil {
		return err
	}
	// The same logging set-up as cmd/telegraf: level-prefixed lines on stderr
	// (or the agent's logfile), so the tests can look for "E!" and panics.
	if err := logger.SetupLogging(&logger.Config{
		Debug:     cfg.Agent.Debug || debug,
		Quiet:     cfg.Agent.Quiet,
		LogTarget: cfg.Agent.LogTarget,
		LogFormat: cfg.Agent.LogFormat,
		Logfile:   cfg.Agent.Logfile,
	}); err != nil {
		return err
	}

	// SIGINT/SIGTERM end Run the way they end a real Telegraf: inputs stop,
	// outputs flush, then the statefile is written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case m.test:
		return agent.NewAgent(cfg).Test(ctx, m.wait)
	case m.once:
		return agent.NewAgent(cfg).Once(ctx, m.wait)
	}
	return agent.NewAgent(cfg).Run(ctx)
}
