//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// runResult is one peer's run over the backlog.
type runResult struct {
	Peer          string  `json:"peer"`
	Round         int     `json:"round"`
	Events        int     `json:"events"`         // distinct events delivered
	Lines         int     `json:"lines"`          // lines read from stdout (Node: 0)
	WallSeconds   float64 `json:"wall_seconds"`   // process start to the last distinct event seen
	EventsPerSec  float64 `json:"events_per_sec"` // Events / WallSeconds
	CPUSeconds    float64 `json:"cpu_seconds"`    // utime+stime from /proc just before stopping it
	CPUPerMillion float64 `json:"cpu_seconds_per_1m_events"`
	PeakRSSMB     float64 `json:"peak_rss_mb"` // VmHWM, MiB
	// Cores is CPUSeconds / WallSeconds: near 1 a single-threaded peer is CPU-bound.
	Cores float64 `json:"cores"`
	// HarnessCPUSeconds is what this process (the simulator serving the pages and the
	// stdout reader) used meanwhile: a busy simulator would cap every peer alike.
	HarnessCPUSeconds float64 `json:"harness_cpu_seconds"`
	// Requests the simulator received during the run.
	EventsRequests   int `json:"events_requests"`
	OptionsRequests  int `json:"options_requests"`
	LongPollRequests int `json:"longpoll_requests"`
	TokenRequests    int `json:"token_requests"`
	// Node is the Node peer's own report (process.cpuUsage() and friends).
	Node *nodeReport `json:"node,omitempty"`
}

// nodeReport is the JSON line the Node SDK peer prints when done.
type nodeReport struct {
	Count       int     `json:"count"`
	CPUUserUS   int64   `json:"cpu_user_us"`
	CPUSystemUS int64   `json:"cpu_system_us"`
	ReadingCPU  int64   `json:"reading_cpu_us"` // from main() on: without loading Node and the SDK
	ElapsedMS   float64 `json:"elapsed_ms"`
	Pages       int     `json:"pages"`
	Errors      int     `json:"errors"`
	MaxRSSBytes int64   `json:"max_rss_bytes"`
}

// endpointCounts snapshots the simulator's request counters.
type endpointCounts struct{ events, options, longpoll, token int }

func countRequests(sim *boxsim.Server) endpointCounts {
	return endpointCounts{
		events:   sim.Requests(boxsim.EndpointEvents),
		options:  sim.Requests(boxsim.EndpointOptions),
		longpoll: sim.Requests(boxsim.EndpointLongPoll),
		token:    sim.Requests(boxsim.EndpointToken),
	}
}

// distinctCounter counts distinct event ids by a 64-bit hash (1M ids in a few tens of
// MB, with a collision chance of about 3e-8) and notes when it reaches want.
type distinctCounter struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	lines int
	want  int
	done  chan time.Time // receives the time the want-th distinct id was read
}

func newDistinctCounter(want int) *distinctCounter {
	return &distinctCounter{seed: maphash.MakeSeed(), seen: make(map[uint64]struct{}, want), want: want,
		done: make(chan time.Time, 1)}
}

// has reports whether id was read.
func (c *distinctCounter) has(id string) bool {
	_, ok := c.seen[maphash.String(c.seed, id)]
	return ok
}

func (c *distinctCounter) line(line []byte, at time.Time) {
	c.lines++
	id, ok := eventID(line)
	if !ok {
		return
	}
	h := maphash.Bytes(c.seed, id)
	if _, dup := c.seen[h]; dup {
		return
	}
	c.seen[h] = struct{}{}
	if len(c.seen) == c.want {
		c.done <- at
	}
}

// runThroughput runs one peer over the backlog from position 0 until it has
// delivered every distinct event, and measures it.
func runThroughput(cfg *config, b *backlog, peer string, round int) (res runResult, err error) {
	dir, err := os.MkdirTemp("", "telegraf-box-bench-*")
	if err != nil {
		return res, err
	}
	defer cfg.removeRunDir(dir, &err)
	typ, id := subjectFor(b.stream)
	settings := pluginSettings{baseURL: b.url, stream: b.stream, start: "0",
		stateFile: filepath.Join(dir, "box.state"), subjectType: typ, subjectID: id, commitDelay: cfg.commitDelay}

	var p peerCmd
	switch peer {
	case peerTelegrafBox:
		p, err = telegrafBoxCmd(cfg.telegrafBox, dir, settings)
	case peerCompiledIn:
		p, err = compiledInCmd(cfg.telegrafrun, dir, settings)
	case peerNode:
		p = nodeCmd(cfg.node, cfg.nodeDir, cfg.nodeModeFor(b.stream), b.url, b.stream, b.distinct)
	default:
		err = fmt.Errorf("unknown peer %q", peer)
	}
	if err != nil {
		return res, err
	}

	var (
		done    = make(chan time.Time, 1)
		onLine  func([]byte, time.Time)
		mu      sync.Mutex // guards report and counter between the reader and the end
		report  *nodeReport
		lines   func() int
		counter *distinctCounter
	)
	if p.output == outputJSON {
		onLine = func(line []byte, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			var r nodeReport
			if json.Unmarshal(line, &r) == nil && report == nil {
				report = &r
				done <- at
			}
		}
		lines = func() int { return 0 }
	} else {
		c := newDistinctCounter(b.distinct)
		counter = c
		done = c.done
		onLine = func(line []byte, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			c.line(line, at)
		}
		lines = func() int { mu.Lock(); defer mu.Unlock(); return c.lines }
	}

	before := countRequests(b.sim)
	harness0 := selfCPU()
	r, err := startPeer(p, dir, onLine)
	if err != nil {
		return res, err
	}
	var last time.Time
	select {
	case last = <-done:
	case <-r.eof:
		select { // the last line and EOF may arrive together
		case last = <-done:
		default:
			return res, r.exited()
		}
	case <-time.After(cfg.runTimeout):
		r.kill()
		now := countRequests(b.sim)
		return res, fmt.Errorf("%s did not deliver all %d events within %s (%d lines read; it made %d GET /events, %d OPTIONS, %d long polls)%s",
			peer, b.distinct, cfg.runTimeout, lines(), now.events-before.events, now.options-before.options,
			now.longpoll-before.longpoll, r.stderrTail())
	}
	use, uerr := procUsage(r.pid())
	harnessCPU := selfCPU() - harness0
	after := countRequests(b.sim)
	if uerr != nil {
		r.kill()
		return res, fmt.Errorf("measuring %s: %w", peer, uerr)
	}
	if err := r.stop(); err != nil {
		return res, err
	}

	wall := last.Sub(r.started)
	res = runResult{
		Peer:              peer,
		Round:             round,
		Events:            b.distinct,
		Lines:             lines(),
		WallSeconds:       wall.Seconds(),
		EventsPerSec:      float64(b.distinct) / wall.Seconds(),
		CPUSeconds:        use.cpu.Seconds(),
		CPUPerMillion:     use.cpu.Seconds() / float64(b.distinct) * 1e6,
		PeakRSSMB:         float64(use.peakRSSKB) / 1024,
		Cores:             use.cpu.Seconds() / wall.Seconds(),
		HarnessCPUSeconds: harnessCPU.Seconds(),
		EventsRequests:    after.events - before.events,
		OptionsRequests:   after.options - before.options,
		LongPollRequests:  after.longpoll - before.longpoll,
		TokenRequests:     after.token - before.token,
	}
	if report != nil {
		if report.Count < b.distinct {
			return res, fmt.Errorf("%s reported %d distinct events, want %d", peer, report.Count, b.distinct)
		}
		res.Node = report
	}
	if counter != nil {
		// Reaching the count proves nothing if other ids were counted: check a sample.
		mu.Lock()
		defer mu.Unlock()
		for _, id := range b.sample {
			if !counter.has(id) {
				return res, fmt.Errorf("%s wrote %d distinct event ids, but not the backlog's %q", peer, b.distinct, id)
			}
		}
	}
	if res.Events == 0 {
		return res, errors.New("no events")
	}
	return res, nil
}
