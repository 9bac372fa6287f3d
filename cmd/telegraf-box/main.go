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
	"io"
	"os"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/logger"
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
		pprofAddr    = flag.String("pprof_addr", "", "serve Go's pprof profiles on this address (e.g. localhost:6060), as Telegraf's --pprof-addr")
		showVersion  = flag.Bool("version", false, "print the version and exit")
	)
	flag.Parse()
	hangups := catchHangups() // inputs.execd's signal = "SIGHUP" may come before the runner starts
	if *showVersion {
		fmt.Println("telegraf-box", version)
		return
	}
	// Telegraf's logger prefixes every line with a timestamp, which makes
	// inputs.execd log all of them as errors, and until it is configured it
	// keeps every message in memory. Send it through a writer that starts each
	// line with its level instead.
	logger.RedirectLogging(&levelWriter{out: os.Stderr, debug: *debug})

	tuneGC()
	if *pprofAddr != "" {
		servePprof(*pprofAddr)
	}
	useExecdDefaults()
	interval := *pollInterval
	if *pollDisabled {
		interval = 0
	}
	var err error
	if *demo {
		err = runDemo(*demoStream, interval, hangups)
	} else {
		err = run(*configFile, interval, hangups)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "E! %s\n", err)
		os.Exit(1)
	}
}

// Defaults under inputs.execd. Telegraf's shim protocol has no
// acknowledgement: a page counts as delivered once its lines are on stdout,
// and its position is committed only defaultCommitDelay later (Telegraf's
// default flush_interval of 10s plus room for a slow output write), so a
// Telegraf killed in between makes the plugin read it again. A page keeps its
// events' place in the window of page_size × max_undelivered_pages events
// until committed, so at most that many events (60,000) sit uncommitted in
// Telegraf, and reading is capped at that many per commit_delay (2,000
// events/s, twice what a busy enterprise sustains), however small the pages:
// the long poll of a user stream brings a page of 1-3 events per change, and
// when places were counted in pages such a stream stalled at 120 pages per
// commit_delay (4 pages/s). max_undelivered_pages also sizes Telegraf's
// tracking accumulator: at most that many pages wait for a delivery notice,
// and the runner acknowledges a page as soon as its lines are on stdout.
const (
	defaultCommitDelay         = 30 * time.Second
	defaultMaxUndeliveredPages = 120
)

// useExecdDefaults changes the plugin's defaults for running under execd.
func useExecdDefaults() {
	factory := inputs.Inputs["box_events"]
	inputs.Add("box_events", func() telegraf.Input {
		p := factory().(*box_events.BoxEvents)
		p.CommitDelay = config.Duration(defaultCommitDelay)
		p.MaxUndeliveredPages = defaultMaxUndeliveredPages
		return p
	})
}

func run(configFile string, interval time.Duration, hangups <-chan os.Signal) error {
	ri, err := loadPlugin(configFile)
	if err != nil {
		return fmt.Errorf("loading %q: %w", configFile, err)
	}
	input, ok := ri.Input.(telegraf.ServiceInput)
	if !ok {
		return fmt.Errorf("%s is not a service input", ri.LogName())
	}
	if err := ri.Init(); err != nil {
		return fmt.Errorf("%s: %w", ri.LogName(), err)
	}
	growPipe(os.Stdout)
	r := &runner{input: input, maker: ri, log: ri.Log(), stdin: os.Stdin, stdout: os.Stdout,
		pollInterval: interval, signals: true, hangups: hangups}
	if p, ok := ri.Input.(*box_events.BoxEvents); ok {
		r.stats, r.statsInterval = p.SelfMetric, time.Duration(p.StatsInterval)
	}
	return r.run()
}

// runDemo starts the simulated Box on a loopback port and runs the plugin
// against it until stdin closes (unless it is the null device) or the process
// is interrupted.
func runDemo(stream string, interval time.Duration, hangups <-chan os.Signal) error {
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
	// Ctrl-D (stdin's end) stops the demo as it stops the execd binary, except when stdin
	// is the null device (nohup, `docker run` without -i, a service): its end is there
	// from the start, and nobody could type anything, so only a signal stops the demo.
	var stdin io.Reader = os.Stdin
	stop := "Ctrl-C or Ctrl-D"
	if isNullDevice(os.Stdin) {
		stdin, stop = nil, "Ctrl-C (SIGINT) or SIGTERM"
	}
	fmt.Fprintf(os.Stderr, "I! Demo: simulated Box at %s, reading the %q stream; press %s to stop\n", url, stream, stop)

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

	p.Log = logger.New("inputs", "box_events", "")
	if err := p.Init(); err != nil {
		return err
	}
	r := &runner{input: p, maker: demoMaker{log: p.Log}, log: p.Log, stdin: stdin, stdout: os.Stdout,
		pollInterval: interval, signals: true, hangups: hangups, stats: p.SelfMetric, statsInterval: time.Duration(p.StatsInterval)}
	return r.run()
}

// isNullDevice reports whether f is the null device (/dev/null).
func isNullDevice(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(fi, null)
}

// demoMaker passes metrics through unchanged, as Telegraf's shim does.
type demoMaker struct{ log telegraf.Logger }

func (demoMaker) LogName() string                              { return "inputs.box_events" }
func (demoMaker) MakeMetric(m telegraf.Metric) telegraf.Metric { return m }
func (d demoMaker) Log() telegraf.Logger                       { return d.log }
