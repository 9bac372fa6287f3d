//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// developerToken is the bearer token the simulator accepts for its user (an admin,
// so that it may read the enterprise streams): the Node SDK peer's credential.
const developerToken = "bench0developer0token0for0node0sdk0"

// Backlog kinds (-backlog).
const (
	backlogAuto      = "auto"
	backlogSynthetic = "synthetic" // boxsim's lazily generated EmitBacklog, as generated
	backlogClean     = "clean"     // generated events box-node-sdk can decode, held in memory
)

// backlog is the simulated Box the throughput runs read, and what it holds.
type backlog struct {
	sim       *boxsim.Server
	url       string
	stream    boxsim.Stream
	distinct  int      // distinct event ids a reader from position 0 sees
	served    int      // entries served from position 0 to the end, repeats included
	first     string   // position of the first entry, when known
	last      string   // position of the last entry, when known
	method    string   // how it was filled
	rewritten int      // clean: events whose odd shape was rewritten for box-node-sdk
	sample    []string // ids of distinct events spread over the backlog, to check a reader saw them
	setup     time.Duration
}

// newBacklog starts a simulator on a loopback port holding n distinct events with
// about repeats·n repeats on stream, filled the given way.
func newBacklog(kind string, stream boxsim.Stream, n int, repeats float64, seed uint64) (*backlog, error) {
	start := time.Now()
	opts := boxsim.Options{
		Seed:            seed,
		DeveloperTokens: []string{developerToken},
		UserIsAdmin:     true,
	}
	// Each log must keep the whole backlog (a synthetic one is trimmed to MaxEvents
	// too, although it costs no memory per event).
	opts.MaxEvents = n + int(float64(n)*repeats*2) + 1000
	if kind == backlogClean {
		// The simulator's duplicate rates add the repeats.
		opts.MaxProducedIDs = 1
		opts.StreamingDuplicateRate = repeats
		opts.UserDuplicateRate = repeats
	}
	sim := boxsim.New(opts)
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("starting the simulated Box: %w", err)
	}
	b := &backlog{sim: sim, url: url, stream: stream}
	if kind == backlogSynthetic {
		b.emitSynthetic(n, repeats)
	} else if err := b.emitClean(n, seed); err != nil {
		sim.Close()
		return nil, err
	}
	b.setup = time.Since(start)
	return b, nil
}

// emitSynthetic fills the simulator with boxsim's synthetic backlog: generated
// when served, nothing kept per event, odd shapes included.
func (b *backlog) emitSynthetic(n int, repeats float64) {
	info := b.sim.EmitBacklog(b.stream, n, repeats)
	b.distinct, b.served = info.Distinct, info.Served
	b.first, b.last = info.FirstPosition, info.LastPosition
	b.method = "synthetic: boxsim's EmitBacklog, generated when served"
	for _, i := range sampleIndexes(info.Distinct) {
		b.sample = append(b.sample, info.ID(i))
	}
}

// sampleIndexes returns up to 101 indexes spread evenly over [0, n), first and last included.
func sampleIndexes(n int) []int {
	if n <= 0 {
		return nil
	}
	const parts = 100
	idx := make([]int, 0, parts+1)
	for k := 0; k <= parts; k++ {
		i := (n - 1) * k / parts
		if len(idx) == 0 || idx[len(idx)-1] != i {
			idx = append(idx, i)
		}
	}
	return idx
}

// emitClean fills the simulator with n events drawn by a second simulator's
// generator (EmitEnterprise or EmitUser), rewriting the two odd shapes box-node-sdk
// cannot decode (see cleanEvent), and appended with AddEnterpriseEvent or
// AddUserEvent, where the simulator's duplicate rate adds the repeats.
func (b *backlog) emitClean(n int, seed uint64) error {
	const chunk = 10000
	gen := boxsim.New(boxsim.Options{Seed: seed + 1, MaxEvents: chunk})
	defer gen.Close()
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		var batch []boxsim.Event
		if b.stream.Enterprise() {
			batch = gen.EmitEnterprise(k)
		} else {
			batch = gen.EmitUser(k)
		}
		for _, e := range batch {
			raw, changed, err := cleanEvent(e.JSON)
			if err != nil {
				return err
			}
			if changed {
				b.rewritten++
			}
			if b.stream.Enterprise() {
				_, err = b.sim.AddEnterpriseEvent(raw)
			} else {
				_, err = b.sim.AddUserEvent(raw)
			}
			if err != nil {
				return err
			}
		}
	}
	// admin_logs_streaming holds the latest repeats back until it is read: one read
	// appends them, so that Events lists everything a reader will see.
	if err := readHead(b.url, b.stream); err != nil {
		return err
	}
	entries := b.sim.Events(b.stream)
	seen := make(map[string]struct{}, n)
	var ids []string
	for _, e := range entries {
		if _, dup := seen[e.ID]; !dup {
			seen[e.ID] = struct{}{}
			ids = append(ids, e.ID)
		}
	}
	for _, i := range sampleIndexes(len(ids)) {
		b.sample = append(b.sample, ids[i])
	}
	b.distinct, b.served = len(seen), len(entries)
	if len(entries) > 0 {
		b.first, b.last = entries[0].Position, entries[len(entries)-1].Position
	}
	b.method = fmt.Sprintf("clean: generated by boxsim and held in memory, %d odd shapes box-node-sdk cannot decode rewritten", b.rewritten)
	return nil
}

// cleanEvent rewrites what box-node-sdk 10.12.0 refuses to decode, which makes it
// fail the whole page (and its EventStream retry that page at once, forever): a
// user whose id is a bare number (it becomes the digits as a string),
// additional_details that is not an object (it is dropped), and a file's
// shared_link without effective_permission, which the SDK requires (Box sends it;
// the generator leaves it out; it is added as "can_download"). Everything else is
// kept as generated.
func cleanEvent(raw json.RawMessage) (json.RawMessage, bool, error) {
	if !bytes.Contains(raw, []byte(`"additional_details":"`)) && !hasNumericID(raw) &&
		!bytes.Contains(raw, []byte(`"shared_link":{`)) {
		return raw, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return nil, false, fmt.Errorf("a generated event does not decode: %w", err)
	}
	changed := false
	for _, key := range []string{"created_by", "action_by"} {
		if u, ok := ev[key].(map[string]any); ok {
			if id, ok := u["id"].(json.Number); ok {
				u["id"] = id.String()
				changed = true
			}
		}
	}
	if _, ok := ev["additional_details"].(string); ok {
		delete(ev, "additional_details")
		changed = true
	}
	if src, ok := ev["source"].(map[string]any); ok {
		if link, ok := src["shared_link"].(map[string]any); ok {
			if _, ok := link["effective_permission"]; !ok {
				link["effective_permission"] = "can_download"
				changed = true
			}
		}
	}
	if !changed {
		return raw, false, nil
	}
	out, err := json.Marshal(ev)
	return out, true, err
}

// hasNumericID reports whether raw has an "id" member whose value is a bare number.
func hasNumericID(raw []byte) bool {
	key := []byte(`"id":`)
	for i := bytes.Index(raw, key); i >= 0; {
		j := i + len(key)
		if j < len(raw) && (raw[j] >= '0' && raw[j] <= '9' || raw[j] == '-') {
			return true
		}
		next := bytes.Index(raw[j:], key)
		if next < 0 {
			break
		}
		i = j + next
	}
	return false
}

func (b *backlog) close() { b.sim.Close() }

// readHead asks the simulator for the head of stream ("now"), which appends the
// repeats admin_logs_streaming holds back.
func readHead(baseURL string, stream boxsim.Stream) error {
	req, err := http.NewRequest(http.MethodGet, baseURL+"/2.0/events?stream_position=now&stream_type="+string(stream), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+developerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the simulator answered %s to GET /2.0/events?stream_position=now", resp.Status)
	}
	return nil
}
