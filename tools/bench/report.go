//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// report is everything one benchmark run found; -json prints it as is.
type report struct {
	Machine machine                `json:"machine"`
	Config  map[string]any         `json:"config"`
	Backlog backlogInfo            `json:"backlog"`
	Runs    []runResult            `json:"runs"`
	Peers   map[string]peerSummary `json:"peers,omitempty"`
	Order   []string               `json:"peer_order,omitempty"`
	Ratios  []ratio                `json:"ratios,omitempty"`
	Latency *latencyResult         `json:"latency,omitempty"`
}

type machine struct {
	NProc          int    `json:"nproc"`
	CPUModel       string `json:"cpu_model"`
	MemoryMB       int64  `json:"memory_mb"`
	Kernel         string `json:"kernel"`
	GoVersion      string `json:"go_version"`
	NodeVersion    string `json:"node_version,omitempty"`
	BoxNodeSDK     string `json:"box_node_sdk,omitempty"`
	Telegraf       string `json:"telegraf,omitempty"`
	Date           string `json:"date"`
	Source         string `json:"source,omitempty"` // git commit of the working tree, and whether it had changes
	NodePeerAbsent string `json:"node_peer_absent,omitempty"`
}

type backlogInfo struct {
	Stream        string  `json:"stream"`
	Distinct      int     `json:"distinct"`
	Served        int     `json:"served"`
	FirstPosition string  `json:"first_position,omitempty"`
	LastPosition  string  `json:"last_position,omitempty"`
	Method        string  `json:"method"`
	SetupSeconds  float64 `json:"setup_seconds"`
}

// peerSummary is one peer over the rounds.
type peerSummary struct {
	EventsPerSec      summary `json:"events_per_sec"`
	CPUPerMillion     summary `json:"cpu_seconds_per_1m_events"`
	PeakRSSMB         summary `json:"peak_rss_mb"`
	WallSeconds       summary `json:"wall_seconds"`
	Cores             summary `json:"cores"`
	HarnessCPUSeconds summary `json:"harness_cpu_seconds"`
	EventsRequests    summary `json:"events_requests"`
}

// ratio compares one peer's medians with another's, and the two peers' runs round by round.
type ratio struct {
	Peer       string  `json:"peer"`
	Versus     string  `json:"versus"`
	Throughput float64 `json:"throughput_times"`   // peer events/s ÷ versus events/s
	CPUPer     float64 `json:"cpu_per_event_less"` // versus CPU per event ÷ peer CPU per event
	RSS        float64 `json:"peak_rss_less"`      // versus peak RSS ÷ peer peak RSS
	// The same two ratios within each round, whose runs follow one another: paired, they
	// leave out more of a shared machine's drift from round to round than the medians' ratio.
	ThroughputRounds summary `json:"throughput_times_by_round"`
	CPUPerRounds     summary `json:"cpu_per_event_less_by_round"`
}

// roundRatios returns, for each round in which both peer and versus ran, peer's events/s over
// versus's and versus's CPU per event over peer's.
func roundRatios(runs []runResult, peer, versus string) (throughput, cpuPer []float64) {
	byRound := make(map[int]map[string]runResult)
	var rounds []int
	for _, run := range runs {
		if byRound[run.Round] == nil {
			byRound[run.Round] = make(map[string]runResult)
			rounds = append(rounds, run.Round)
		}
		byRound[run.Round][run.Peer] = run
	}
	for _, n := range rounds {
		p, okP := byRound[n][peer]
		v, okV := byRound[n][versus]
		if !okP || !okV || v.EventsPerSec <= 0 || p.CPUPerMillion <= 0 {
			continue
		}
		throughput = append(throughput, p.EventsPerSec/v.EventsPerSec)
		cpuPer = append(cpuPer, v.CPUPerMillion/p.CPUPerMillion)
	}
	return throughput, cpuPer
}

func reportConfig(cfg *config) map[string]any {
	m := map[string]any{
		"events": cfg.events, "repeats": cfg.repeats, "stream": cfg.stream, "rounds": cfg.rounds, "backlog": cfg.backlog,
		"peers": cfg.peers, "timeout_seconds": cfg.runTimeout.Seconds(), "smoke": cfg.smoke,
		"commit_delay": cfg.commitDelay.String(),
	}
	if len(cfg.peers) > 0 {
		m["node_mode"] = cfg.nodeModeFor(cfg.stream)
	}
	if cfg.latency {
		m["latency"] = map[string]any{
			"spaced_events": cfg.spacedEvents, "spaced_interval_seconds": cfg.spacedInterval.Seconds(),
			"steady_rate": cfg.steadyRate, "steady_seconds": cfg.steadySeconds, "idle_seconds": cfg.idle.Seconds(),
		}
	}
	return m
}

func (r *report) summarize(peers []string) {
	r.Peers = make(map[string]peerSummary)
	r.Order = peers
	for _, p := range peers {
		var rate, cpu, rss, wall, cores, harness, reqs []float64
		for _, run := range r.Runs {
			if run.Peer != p {
				continue
			}
			rate = append(rate, run.EventsPerSec)
			cpu = append(cpu, run.CPUPerMillion)
			rss = append(rss, run.PeakRSSMB)
			wall = append(wall, run.WallSeconds)
			cores = append(cores, run.Cores)
			harness = append(harness, run.HarnessCPUSeconds)
			reqs = append(reqs, float64(run.EventsRequests))
		}
		r.Peers[p] = peerSummary{EventsPerSec: summarize(rate), CPUPerMillion: summarize(cpu),
			PeakRSSMB: summarize(rss), WallSeconds: summarize(wall), Cores: summarize(cores), HarnessCPUSeconds: summarize(harness),
			EventsRequests: summarize(reqs)}
	}
	node, ok := r.Peers[peerNode]
	if !ok {
		return
	}
	for _, p := range []string{peerTelegrafBox, peerCompiledIn} {
		s, ok := r.Peers[p]
		if !ok {
			continue
		}
		tr, cr := roundRatios(r.Runs, p, peerNode)
		r.Ratios = append(r.Ratios, ratio{
			Peer: p, Versus: peerNode,
			Throughput:       s.EventsPerSec.Median / node.EventsPerSec.Median,
			CPUPer:           node.CPUPerMillion.Median / s.CPUPerMillion.Median,
			RSS:              node.PeakRSSMB.Median / s.PeakRSSMB.Median,
			ThroughputRounds: summarize(tr),
			CPUPerRounds:     summarize(cr),
		})
	}
}

// markdown renders the report for a reader (and for the issue).
func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "## telegraf-box benchmark (issue 8), %s\n\n", m.Date)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %.1f GiB memory, Linux %s; %s", m.NProc, m.CPUModel,
		float64(m.MemoryMB)/1024, m.Kernel, m.GoVersion)
	if m.NodeVersion != "" {
		fmt.Fprintf(&b, ", Node.js %s, box-node-sdk %s", m.NodeVersion, m.BoxNodeSDK)
	}
	if m.Telegraf != "" {
		fmt.Fprintf(&b, ", Telegraf %s", m.Telegraf)
	}
	b.WriteString(".\n")
	if m.Source != "" {
		fmt.Fprintf(&b, "Source: %s.\n", m.Source)
	}
	if m.NodePeerAbsent != "" {
		fmt.Fprintf(&b, "\n**The Node SDK peer did not run: %s**\n", m.NodePeerAbsent)
	}

	if len(r.Runs) > 0 {
		bl := r.Backlog
		fmt.Fprintf(&b, "\n### Throughput: %s distinct events, %s served (%.1f%% repeats), stream %s, from position 0\n\n",
			thousands(bl.Distinct), thousands(bl.Served), pct(bl.Served-bl.Distinct, bl.Distinct), bl.Stream)
		fmt.Fprintf(&b, "One simulated Box in the harness process serves every run (backlog: %s, ready in %.1f s). "+
			"Peers take turns, %s; medians, with min–max over the rounds. box_events runs with commit_delay = %q.\n\n",
			bl.Method, bl.SetupSeconds, plural(r.Config["rounds"], "round"), r.Config["commit_delay"])
		b.WriteString("| peer | events/s | CPU-s per 1M events | peak RSS MB | wall s | cores busy | GET /events per run | harness CPU-s |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range r.Order {
			s := r.Peers[p]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %.0f | %.2f |\n", peerTitle(p),
				rangeText(s.EventsPerSec, 0), rangeText(s.CPUPerMillion, 1), rangeText(s.PeakRSSMB, 0),
				rangeText(s.WallSeconds, 2), s.Cores.Median, s.EventsRequests.Median, s.HarnessCPUSeconds.Median)
		}
		b.WriteString("\n(cores busy: the peer's CPU-s over its wall s; harness CPU-s: the simulator serving pages plus " +
			"the harness reading the peer's stdout, in the harness process.)\n")
		var nodeWall, nodeCPU, nodeAll []float64
		for _, run := range r.Runs {
			if run.Node != nil {
				nodeWall = append(nodeWall, run.Node.ElapsedMS/1000)
				nodeCPU = append(nodeCPU, float64(run.Node.ReadingCPU)/1e6)
				nodeAll = append(nodeAll, float64(run.Node.CPUUserUS+run.Node.CPUSystemUS)/1e6)
			}
		}
		if len(nodeWall) > 0 {
			fmt.Fprintf(&b, "\nThe Node SDK peer's own measure (process.cpuUsage()), from its main() to the last event: "+
				"median %.2f s and %.2f CPU-s (%.2f CPU-s with loading Node and the SDK); the difference to its row "+
				"is Node's start-up.\n", summarize(nodeWall).Median, summarize(nodeCPU).Median, summarize(nodeAll).Median)
		}
		if len(r.Ratios) > 0 {
			b.WriteString("\n| vs Box Node SDK | throughput | CPU per event | peak RSS | throughput, round by round | CPU per event, round by round |\n" +
				"|---|---:|---:|---:|---:|---:|\n")
			for _, q := range r.Ratios {
				fmt.Fprintf(&b, "| %s | ×%.2f | ÷%.2f | ÷%.2f | ×%s | ÷%s |\n", peerTitle(q.Peer), q.Throughput, q.CPUPer, q.RSS,
					rangeText(q.ThroughputRounds, 2), rangeText(q.CPUPerRounds, 2))
			}
			b.WriteString("\n(×: events/s of the peer over the Node SDK's; ÷: the Node SDK's CPU per event, or peak RSS, " +
				"over the peer's, so ÷3 means a third of the Node SDK's. The first three compare the medians of the rounds; " +
				"round by round: the median, with min–max, of the ratios of the two peers' runs in the same round, " +
				"which follow one another.)\n")
		}
		b.WriteString("\nRuns:\n\n| round | peer | events/s | CPU s | peak RSS MB | wall s | GET /events | OPTIONS | long polls |\n" +
			"|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, run := range r.Runs {
			fmt.Fprintf(&b, "| %d | %s | %.0f | %.2f | %.0f | %.2f | %d | %d | %d |\n", run.Round, run.Peer,
				run.EventsPerSec, run.CPUSeconds, run.PeakRSSMB, run.WallSeconds, run.EventsRequests,
				run.OptionsRequests, run.LongPollRequests)
		}
	}

	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "\n### Latency of telegraf-box on user stream %q (event added in the simulated Box → its line on stdout, loopback)\n\n", l.Stream)
		b.WriteString("| scenario | events | p50 ms | p99 ms | min–max ms | GET /events | long polls |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range l.Scenarios {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f–%.1f | %d | %d |\n", s.Name, s.Events, s.P50MS, s.P99MS,
				s.MinMS, s.MaxMS, s.EventsRequests, s.LongPollRequests)
		}
		i := l.Idle
		fmt.Fprintf(&b, "\nIdle for %.0f s afterwards: %d GET /events, %d long polls, %d OPTIONS, %.2f CPU-s "+
			"(telegraf-box's peak RSS over the whole latency run: %.0f MB).\n",
			i.Seconds, i.EventsRequests, i.LongPollRequests, i.OptionsRequests, i.CPUSeconds, l.PeakRSSMB)
	}
	return b.String()
}

// sourceVersion names the commit of the working tree the binaries were built from,
// with the number of files changed since, if any.
func sourceVersion() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := len(strings.Split(strings.TrimSpace(string(st)), "\n")); len(bytes.TrimSpace(st)) > 0 {
			v += fmt.Sprintf(" with %d changed files not committed", n)
		}
	}
	return v
}

// telegrafVersion is the Telegraf module version telegrafrun was built with
// (`go version -m`), or that of this module's go.mod.
func telegrafVersion(telegrafrun string) string {
	const mod = "github.com/influxdata/telegraf"
	if out, err := exec.Command("go", "version", "-m", telegrafrun).Output(); err == nil {
		for line := range strings.SplitSeq(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "dep" && f[1] == mod {
				return f[2]
			}
		}
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == mod {
				return dep.Version
			}
		}
	}
	return ""
}

func rangeText(s summary, decimals int) string {
	if s.N <= 1 {
		return strconv.FormatFloat(s.Median, 'f', decimals, 64)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', decimals, 64) }
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func plural(n any, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%v %ss", n, word)
}

func pct(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) * 100 / float64(whole)
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// machineInfo describes where the benchmark ran.
func machineInfo(cfg *config) machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339),
		NodePeerAbsent: cfg.skipNode}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						m.MemoryMB = kb / 1024
					}
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	m.Telegraf = telegrafVersion(cfg.telegrafrun)
	m.Source = sourceVersion()
	if cfg.skipNode == "" {
		if out, err := exec.Command(cfg.node, "--version").Output(); err == nil {
			m.NodeVersion = strings.TrimSpace(string(out))
		}
		if data, err := os.ReadFile(filepath.Join(cfg.nodeDir, "node_modules", "box-node-sdk", "package.json")); err == nil {
			var pkg struct{ Version string }
			if json.Unmarshal(bytes.TrimSpace(data), &pkg) == nil {
				m.BoxNodeSDK = pkg.Version
			}
		}
	}
	return m
}
