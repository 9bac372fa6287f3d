//go:build linux

// Command bench is the performance benchmark of issue 8: it measures telegraf-box
// against Box's official Node SDK on the same simulated Box, in the same run.
//
// One simulated Box (internal/boxsim, in this process) holds a backlog of
// -events distinct events with -repeats of them repeated, on -stream. Each peer
// reads it from position 0 until it has delivered every distinct event; the peers
// take turns, -rounds times, and the report gives medians with their range:
//
//   - telegraf-box: the execd binary, run as inputs.execd runs it
//     (telegraf-box -config plugin.conf -poll_interval_disabled, stdin a pipe kept
//     open, stdout read by this harness, which counts distinct event_id values);
//   - node: Box's Node SDK (box-node-sdk, scripts/bench/node), counting distinct
//     event ids in a Set and printing only a summary;
//   - compiled-in: Telegraf's agent with box_events compiled in
//     (plugin_test/telegrafrun) writing line protocol to stdout with outputs.file.
//
// CPU is utime+stime of /proc/<pid>/stat read just before the peer is stopped,
// peak RSS is VmHWM of /proc/<pid>/status, wall time runs from starting the
// process to reading its last distinct event. Then, on a simulator of its own,
// telegraf-box follows the user stream "all" from "now" while events are added
// live: the time from adding an event to reading its line is its latency.
// Finally nothing happens for -idle: the GET /events it makes and the CPU it uses.
//
// Nothing is asserted about time: a run fails only when a peer does not deliver
// every event within -timeout or exits with an error. Run it with
// scripts/bench.sh, which builds the binaries and installs the Node SDK.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// config is the parsed command line.
type config struct {
	events     int
	repeats    float64
	stream     boxsim.Stream
	rounds     int
	backlog    string // backlogAuto, backlogSynthetic or backlogClean
	peers      []string
	skipNode   string // why the Node peer cannot run ("" when it can)
	latency    bool
	runTimeout time.Duration
	keepFailed bool
	// commitDelay is the throughput runs' commit_delay: 0 measures reading; the execd
	// default (30s) shows that memory does not grow with it.
	commitDelay time.Duration

	spacedEvents   int
	spacedInterval time.Duration
	steadyRate     int
	steadySeconds  int
	idle           time.Duration

	telegrafBox string
	telegrafrun string
	node        string
	nodeDir     string
	nodeMode    string // auto, stream or pages

	jsonOut bool
	out     string
	smoke   bool
}

// nodeModeFor is the Node peer's mode for stream: -node-mode, where "auto" is
// getEventStream for user streams and a getEvents loop for enterprise streams. The
// SDK's EventStream long-polls between pages, and Box's long poll (OPTIONS
// /2.0/events, which the SDK sends without stream_type) watches the user's stream:
// on an enterprise stream it reads one page, then waits for the user's stream to
// change or for retry_timeout (610 s).
func (c *config) nodeModeFor(stream boxsim.Stream) string {
	if c.nodeMode != "auto" {
		return c.nodeMode
	}
	if stream.Enterprise() {
		return "pages"
	}
	return "stream"
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench: FAILED: %s\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := &config{}
	var (
		stream, peers string
		noLatency     bool
	)
	fs.IntVar(&cfg.events, "events", 1_000_000, "distinct events in the backlog")
	fs.Float64Var(&cfg.repeats, "repeats", 0.02, "share of events the stream serves again (Box's at-least-once repeats)")
	fs.StringVar(&stream, "stream", string(boxsim.StreamAdminLogsStreaming), "stream type of the throughput backlog (admin_logs_streaming, admin_logs or all)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds; each runs every peer once, in turn")
	fs.StringVar(&cfg.backlog, "backlog", backlogAuto, "how the simulated Box is filled: synthetic (boxsim's lazy EmitBacklog, as generated), "+
		"clean (generated events box-node-sdk can decode, in memory) or auto (clean when the Node peer runs)")
	fs.StringVar(&peers, "peers", strings.Join(allPeers, ","), "comma-separated peers: telegraf-box, node, compiled-in")
	fs.StringVar(&cfg.skipNode, "skip-node", "", "leave the Node peer out, giving this reason in the report "+
		"(scripts/bench.sh sets it when npm or node is missing)")
	fs.BoolVar(&cfg.latency, "latency", true, "measure telegraf-box's user-stream latency and idle cost")
	fs.BoolVar(&noLatency, "no-latency", false, "skip the latency and idle measurements")
	fs.DurationVar(&cfg.runTimeout, "timeout", 0, "how long one peer may take to deliver the backlog (0: 2 min + 1 ms per event)")
	fs.DurationVar(&cfg.commitDelay, "commit-delay", 0, "commit_delay of the throughput runs (0s measures reading; with the execd default, 30s, "+
		"reading is paced at page_size × max_undelivered_pages events per commit_delay, 2,000 events/s)")
	fs.BoolVar(&cfg.keepFailed, "keep-failed", false, "keep a failed run's directory (configs, stderr.log)")
	fs.IntVar(&cfg.spacedEvents, "latency-events", 100, "events of the spaced latency scenario")
	fs.DurationVar(&cfg.spacedInterval, "latency-interval", 2*time.Second, "time between two events of the spaced latency scenario")
	fs.IntVar(&cfg.steadyRate, "latency-steady-rate", 5, "events per second of the steady latency scenario")
	fs.IntVar(&cfg.steadySeconds, "latency-steady-seconds", 200, "duration of the steady latency scenario, in seconds")
	fs.DurationVar(&cfg.idle, "idle", 10*time.Second, "idle period after the latency scenarios")
	fs.StringVar(&cfg.telegrafBox, "telegraf-box", ".cache/bin/telegraf-box", "the execd binary (go build ./cmd/telegraf-box)")
	fs.StringVar(&cfg.telegrafrun, "telegrafrun", ".cache/bin/telegrafrun", "Telegraf with box_events compiled in (go build ./plugin_test/telegrafrun)")
	fs.StringVar(&cfg.node, "node", "node", "the Node.js binary")
	fs.StringVar(&cfg.nodeDir, "node-dir", "scripts/bench/node", "directory of bench.js with box-node-sdk installed in node_modules")
	fs.StringVar(&cfg.nodeMode, "node-mode", "auto", "how the Node peer reads: stream (getEventStream), pages (a getEvents loop) or auto "+
		"(stream for user streams, pages for enterprise streams, where getEventStream waits on a user-stream long poll after each page)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the report as JSON instead of Markdown")
	fs.StringVar(&cfg.out, "out", "", "also write the report to this file")
	fs.BoolVar(&cfg.smoke, "smoke", false, "a quick check that everything works: 5,000 events, 1 round, "+
		"5 events 2 s apart, 5 events/s for 10 s (explicit flags still win)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./tools/bench [flags]   (or: bash scripts/bench.sh [flags])\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.smoke {
		for name, value := range map[string]string{
			"events": "5000", "rounds": "1", "latency-events": "5", "latency-steady-seconds": "10",
		} {
			if !set[name] {
				if err := fs.Set(name, value); err != nil {
					return nil, err
				}
			}
		}
	}
	if noLatency {
		cfg.latency = false
	}
	cfg.stream = boxsim.Stream(stream)
	switch cfg.stream {
	case boxsim.StreamAdminLogsStreaming, boxsim.StreamAdminLogs, boxsim.StreamAll:
	default:
		return nil, fmt.Errorf("-stream %q: want admin_logs_streaming, admin_logs or all", stream)
	}
	for p := range strings.SplitSeq(peers, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allPeers, p) {
			return nil, fmt.Errorf("-peers: unknown peer %q (want %s)", p, strings.Join(allPeers, ", "))
		}
		if !slices.Contains(cfg.peers, p) {
			cfg.peers = append(cfg.peers, p)
		}
	}
	if cfg.skipNode != "" {
		cfg.peers = slices.DeleteFunc(cfg.peers, func(p string) bool { return p == peerNode })
	}
	switch {
	case len(cfg.peers) == 0 && !cfg.latency:
		return nil, errors.New("nothing to do: no peers and no latency measurement")
	case cfg.events <= 0, cfg.rounds <= 0:
		return nil, errors.New("-events and -rounds must be positive")
	case cfg.repeats < 0 || cfg.repeats >= 1:
		return nil, errors.New("-repeats must be in [0, 1)")
	case cfg.spacedEvents <= 0 || cfg.steadyRate <= 0 || cfg.steadySeconds <= 0 || cfg.spacedInterval <= 0:
		return nil, errors.New("the latency scenario flags must be positive")
	case cfg.nodeMode != "auto" && cfg.nodeMode != "stream" && cfg.nodeMode != "pages":
		return nil, fmt.Errorf("-node-mode %q: want auto, stream or pages", cfg.nodeMode)
	}
	switch cfg.backlog {
	case backlogAuto:
		// box-node-sdk fails every page holding one of the generator's odd shapes
		// (see cleanEvent), so the Node peer needs the clean backlog; every peer reads
		// the same one.
		cfg.backlog = backlogSynthetic
		if slices.Contains(cfg.peers, peerNode) {
			cfg.backlog = backlogClean
		}
	case backlogSynthetic, backlogClean:
	default:
		return nil, fmt.Errorf("-backlog %q: want auto, synthetic or clean", cfg.backlog)
	}
	// Peers run in directories of their own: make the paths absolute.
	for _, p := range []*string{&cfg.telegrafBox, &cfg.telegrafrun, &cfg.nodeDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if strings.ContainsRune(cfg.node, filepath.Separator) {
		abs, err := filepath.Abs(cfg.node)
		if err != nil {
			return nil, err
		}
		cfg.node = abs
	}
	if cfg.runTimeout == 0 {
		cfg.runTimeout = 2*time.Minute + time.Duration(cfg.events)*time.Millisecond
	}
	return cfg, nil
}

// run checks the binaries, runs the rounds and the latency section and prints the report.
func run(cfg *config) error {
	for _, p := range cfg.peers {
		var path string
		switch p {
		case peerTelegrafBox:
			path = cfg.telegrafBox
		case peerCompiledIn:
			path = cfg.telegrafrun
		case peerNode:
			path = cfg.nodeDir + "/node_modules/box-node-sdk/package.json"
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("peer %s needs %s (build and install everything with: bash scripts/bench.sh): %w", p, path, err)
		}
	}
	if cfg.latency {
		if _, err := os.Stat(cfg.telegrafBox); err != nil {
			return fmt.Errorf("the latency measurement needs %s (bash scripts/bench.sh builds it): %w", cfg.telegrafBox, err)
		}
	}

	rep := &report{Machine: machineInfo(cfg), Config: reportConfig(cfg)}
	if len(cfg.peers) > 0 {
		progressf("filling the simulated Box: %d distinct events, %.1f%% repeats, stream %s", cfg.events, cfg.repeats*100, cfg.stream)
		b, err := newBacklog(cfg.backlog, cfg.stream, cfg.events, cfg.repeats, 8)
		if err != nil {
			return err
		}
		defer b.close()
		rep.Backlog = backlogInfo{Stream: string(b.stream), Distinct: b.distinct, Served: b.served,
			FirstPosition: b.first, LastPosition: b.last, Method: b.method, SetupSeconds: b.setup.Seconds()}
		progressf("backlog ready in %s: %d distinct, %d served from position 0 (%s)",
			b.setup.Round(time.Millisecond), b.distinct, b.served, b.method)
		for round := 1; round <= cfg.rounds; round++ {
			// Each round starts with the next peer, so that no peer always runs first.
			order := append(slices.Clone(cfg.peers[(round-1)%len(cfg.peers):]), cfg.peers[:(round-1)%len(cfg.peers)]...)
			for _, peer := range order {
				runtime.GC() //nolint:revive // a benchmark: collect the previous run's garbage before measuring the next
				progressf("round %d/%d: %s", round, cfg.rounds, peer)
				res, err := runThroughput(cfg, b, peer, round)
				if err != nil {
					return fmt.Errorf("round %d, %s: %w", round, peer, err)
				}
				progressf("  %d events in %.2f s: %.0f events/s, CPU %.2f s (%.2f s per 1M), peak RSS %.0f MiB; "+
					"harness CPU %.2f s; %d GET /events, %d OPTIONS, %d long polls",
					res.Events, res.WallSeconds, res.EventsPerSec, res.CPUSeconds, res.CPUPerMillion, res.PeakRSSMB,
					res.HarnessCPUSeconds, res.EventsRequests, res.OptionsRequests, res.LongPollRequests)
				rep.Runs = append(rep.Runs, res)
			}
		}
		rep.summarize(cfg.peers)
	}
	if cfg.latency {
		progressf("latency: telegraf-box on user stream all from now: %d events %s apart, then %d/s for %d s, then %s idle",
			cfg.spacedEvents, cfg.spacedInterval, cfg.steadyRate, cfg.steadySeconds, cfg.idle)
		lat, err := runLatency(cfg)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		rep.Latency = &lat
	}

	var text []byte
	if cfg.jsonOut {
		var err error
		if text, err = json.MarshalIndent(rep, "", "  "); err != nil {
			return err
		}
		text = append(text, '\n')
	} else {
		text = []byte(rep.markdown())
	}
	if _, err := os.Stdout.Write(text); err != nil {
		return err
	}
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, text, 0o644); err != nil { //nolint:gosec // a report meant to be read
			return err
		}
	}
	return nil
}

// progress logs what the harness does to stderr, so that stdout holds only the report.
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// removeRunDir removes a run's directory when the run went well (*err is nil) or
// -keep-failed is off; otherwise it keeps it and says where in *err.
func (c *config) removeRunDir(dir string, err *error) {
	if *err == nil || !c.keepFailed {
		_ = os.RemoveAll(dir)
		return
	}
	*err = fmt.Errorf("%w\n(its files are kept in %s)", *err, dir)
}
