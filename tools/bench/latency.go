//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// latencyStats is one user-stream latency scenario: each event's time from being
// added to the simulated Box to its line being read from telegraf-box's stdout.
type latencyStats struct {
	Name     string  `json:"name"`
	Events   int     `json:"events"`
	Interval float64 `json:"interval_seconds"` // between two emitted events
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
	// Requests telegraf-box made during the scenario.
	EventsRequests   int `json:"events_requests"`
	LongPollRequests int `json:"longpoll_requests"`
	OptionsRequests  int `json:"options_requests"`
}

// idleStats is telegraf-box following a user stream on which nothing happens.
type idleStats struct {
	Seconds          float64 `json:"seconds"`
	EventsRequests   int     `json:"events_requests"` // GET /2.0/events
	LongPollRequests int     `json:"longpoll_requests"`
	OptionsRequests  int     `json:"options_requests"`
	CPUSeconds       float64 `json:"cpu_seconds"` // utime+stime growth (10 ms ticks)
}

// latencyResult is the whole latency section.
type latencyResult struct {
	Stream    string         `json:"stream"`
	Scenarios []latencyStats `json:"scenarios"`
	Idle      idleStats      `json:"idle"`
	PeakRSSMB float64        `json:"peak_rss_mb"`
}

// latencyTracker pairs emitted event ids with the lines that carry them.
type latencyTracker struct {
	mu      sync.Mutex
	emitted map[string]time.Time
	latency map[string]time.Duration
	arrived chan struct{} // poked on every first arrival
}

func newLatencyTracker() *latencyTracker {
	return &latencyTracker{emitted: make(map[string]time.Time), latency: make(map[string]time.Duration),
		arrived: make(chan struct{}, 1)}
}

func (t *latencyTracker) emit(sim *boxsim.Server) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := time.Now()
	id := sim.EmitUser(1)[0].ID
	t.emitted[id] = at
	return id
}

func (t *latencyTracker) line(line []byte, at time.Time) {
	raw, ok := eventID(line)
	if !ok {
		return
	}
	id := string(raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	sent, ok := t.emitted[id]
	if _, seen := t.latency[id]; !ok || seen {
		return
	}
	t.latency[id] = at.Sub(sent)
	select {
	case t.arrived <- struct{}{}:
	default:
	}
}

// wait waits until every id in ids arrived, or timeout passed.
func (t *latencyTracker) wait(ids []string, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		var got []time.Duration
		for _, id := range ids {
			if d, ok := t.latency[id]; ok {
				got = append(got, d)
			}
		}
		t.mu.Unlock()
		if len(got) == len(ids) {
			return got, nil
		}
		select {
		case <-t.arrived:
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d events reached stdout within %s", len(got), len(ids), timeout)
		}
	}
}

// runLatency runs telegraf-box on the user stream "all" of a simulator of its own,
// from "now", and adds events live: the spaced scenario, the steady one, then idle.
func runLatency(cfg *config) (res latencyResult, err error) {
	sim := boxsim.New(boxsim.Options{Seed: 11})
	defer sim.Close()
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("starting the simulated Box: %w", err)
	}
	dir, err := os.MkdirTemp("", "telegraf-box-bench-latency-*")
	if err != nil {
		return res, err
	}
	defer cfg.removeRunDir(dir, &err)
	const stream = boxsim.StreamAll
	typ, id := subjectFor(stream)
	p, err := telegrafBoxCmd(cfg.telegrafBox, dir, pluginSettings{baseURL: url, stream: stream, start: "now",
		stateFile: filepath.Join(dir, "box.state"), subjectType: typ, subjectID: id})
	if err != nil {
		return res, err
	}
	tr := newLatencyTracker()
	r, err := startPeer(p, dir, tr.line)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			r.kill()
		}
	}()
	// Ready once it holds a long poll: it initialised at "now" and waits for news.
	if err := sim.WaitRequests(boxsim.EndpointLongPoll, 1, 60*time.Second); err != nil {
		return res, fmt.Errorf("telegraf-box did not start long-polling: %w%s", err, r.stderrTail())
	}
	res.Stream = string(stream)
	// The collector reads at most one page a second unless the previous was full: let
	// the first event come as long after its initial read as the next ones come after
	// each other.
	time.Sleep(cfg.spacedInterval)

	scenario := func(name string, n int, every time.Duration) error {
		before := countRequests(sim)
		ids := make([]string, 0, n)
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
				time.Sleep(d)
			}
			ids = append(ids, tr.emit(sim))
		}
		lat, err := tr.wait(ids, 60*time.Second)
		if err != nil {
			return fmt.Errorf("latency scenario %q: %w%s", name, err, r.stderrTail())
		}
		after := countRequests(sim)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		res.Scenarios = append(res.Scenarios, latencyStats{
			Name: name, Events: n, Interval: every.Seconds(),
			P50MS: ms(percentile(lat, 50)), P99MS: ms(percentile(lat, 99)),
			MinMS: ms(percentile(lat, 0)), MaxMS: ms(percentile(lat, 100)),
			EventsRequests:   after.events - before.events,
			LongPollRequests: after.longpoll - before.longpoll,
			OptionsRequests:  after.options - before.options,
		})
		return nil
	}
	if err := scenario(fmt.Sprintf("%d events %s apart", cfg.spacedEvents, cfg.spacedInterval),
		cfg.spacedEvents, cfg.spacedInterval); err != nil {
		return res, err
	}
	steady := cfg.steadyRate * cfg.steadySeconds
	if err := scenario(fmt.Sprintf("%d events/s for %d s", cfg.steadyRate, cfg.steadySeconds),
		steady, time.Second/time.Duration(cfg.steadyRate)); err != nil {
		return res, err
	}

	// Idle: nothing happens; a long-polling collector should make no GET /events.
	before := countRequests(sim)
	u0, err := procUsage(r.pid())
	if err != nil {
		return res, err
	}
	time.Sleep(cfg.idle)
	u1, err := procUsage(r.pid())
	if err != nil {
		return res, err
	}
	after := countRequests(sim)
	res.Idle = idleStats{
		Seconds:          cfg.idle.Seconds(),
		EventsRequests:   after.events - before.events,
		LongPollRequests: after.longpoll - before.longpoll,
		OptionsRequests:  after.options - before.options,
		CPUSeconds:       (u1.cpu - u0.cpu).Seconds(),
	}
	res.PeakRSSMB = float64(u1.peakRSSKB) / 1024
	return res, r.stop()
}
