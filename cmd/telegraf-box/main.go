// Command telegraf-box runs the box_events input as a Telegraf external
// plugin: a stock Telegraf starts it with [[inputs.execd]] and reads the
// InfluxDB line protocol it writes to stdout. With -demo it needs no
// configuration and no Box account: it starts a simulated Box in-process,
// with users generating events live, and streams from it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/logger"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/inputs"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
	"github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var (
		configFile   = flag.String("config", "", "path to the plugin config file holding one [[inputs.box_events]] table")
		pollInterval = flag.Duration("poll_interval", time.Second, "how often Gather is called (the plugin pushes events itself)")
		pollDisabled = flag.Bool("poll_interval_disabled", false, "do not call Gather periodically (recommended: events are pushed)")
		demo         = flag.Bool("demo", false, "stream from a built-in simulated Box with live traffic; needs no config or credentials")
		demoStream   = flag.String("demo_stream", "all", "stream type to read in -demo mode")
		debug        = flag.Bool("debug", false, "log debug messages")
		showVersion  = flag.Bool("version", false, "print the version and exit")
	)
	flag.Parse()
	if *showVersion {
		fmt.Println("telegraf-box", version)
		return
	}
	// Telegraf's logger prefixes every line with a timestamp, which makes
	// inputs.execd log all of them as errors, and until it is configured it
	// keeps every message in memory. Send it through a writer that starts each
	// line with its level instead.
	logger.RedirectLogging(&levelWriter{out: os.Stderr, debug: *debug})

	useExecdDefaults()
	interval := *pollInterval
	if *pollDisabled {
		interval = shim.PollIntervalDisabled
	}
	var err error
	if *demo {
		err = runDemo(*demoStream, interval)
	} else {
		err = run(*configFile, interval)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "E! %s\n", err)
		os.Exit(1)
	}
}

// defaultCommitDelay is commit_delay under inputs.execd: Telegraf's default
// flush_interval (10s) plus room for a slow output write.
const defaultCommitDelay = 30 * time.Second

// useExecdDefaults changes the plugin's defaults for running under the shim.
// The shim acknowledges a line as soon as it is written to stdout, long
// before Telegraf's outputs took it, so a position is only committed once its
// lines have been out for commit_delay; a Telegraf killed in between then
// makes the plugin read them again instead of losing them.
func useExecdDefaults() {
	factory := inputs.Inputs["box_events"]
	inputs.Add("box_events", func() telegraf.Input {
		p := factory().(*box_events.BoxEvents)
		p.CommitDelay = config.Duration(defaultCommitDelay)
		return p
	})
}

func run(configFile string, interval time.Duration) error {
	s := shim.New()
	if err := s.LoadConfig(&configFile); err != nil {
		return fmt.Errorf("loading %q: %w", configFile, err)
	}
	return s.Run(interval)
}

// runDemo starts the simulated Box on a loopback port and runs the plugin
// against it until stdin closes or the process is interrupted.
func runDemo(stream string, interval time.Duration) error {
	sim := boxsim.New(boxsim.Options{
		Seed:                   uint64(time.Now().UnixNano()),
		PositionFormat:         boxsim.PositionMixed,
		StreamingDuplicateRate: 0.05,
		StreamingDisorder:      true,
		UserDuplicateRate:      0.05,
	})
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the simulated Box: %w", err)
	}
	defer sim.Close()
	sim.Emit(25) // some history to read first
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.StartGenerator(ctx, 700*time.Millisecond)
	fmt.Fprintf(os.Stderr, "I! Demo: simulated Box at %s, reading the %q stream; press Ctrl-C or Ctrl-D to stop\n", url, stream)

	p, ok := inputs.Inputs["box_events"]().(*box_events.BoxEvents)
	if !ok {
		return errors.New("box_events plugin is not registered")
	}
	p.BaseURL = url
	p.StreamType = stream
	p.StartPosition = "0"
	p.ClientID = boxsim.DefaultClientID
	p.ClientSecret = config.NewSecret([]byte(boxsim.DefaultClientSecret))
	p.SubjectID = boxsim.DefaultEnterpriseID
	p.PollInterval = config.Duration(2 * time.Second)

	s := shim.New()
	if err := s.AddInput(p); err != nil {
		return err
	}
	return s.Run(interval)
}
