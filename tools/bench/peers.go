//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Peer names (the -peers values).
const (
	peerTelegrafBox = "telegraf-box"
	peerNode        = "node"
	peerCompiledIn  = "compiled-in"
)

// allPeers is the default -peers list, in the order the rounds run them.
var allPeers = []string{peerTelegrafBox, peerNode, peerCompiledIn}

// peerTitle is how the report names a peer.
func peerTitle(name string) string {
	switch name {
	case peerTelegrafBox:
		return "telegraf-box (execd binary)"
	case peerNode:
		return "Box Node SDK"
	case peerCompiledIn:
		return "box_events compiled into Telegraf"
	}
	return name
}

// outputKind is what a peer writes on stdout.
type outputKind int

const (
	outputLines outputKind = iota // one line of line protocol per event
	outputJSON                    // one JSON summary line at the end (the Node SDK peer)
)

// stopKind is how a peer is asked to stop once it delivered every event.
type stopKind int

const (
	stopStdinEOF stopKind = iota // close stdin (execd's way; the Node peer waits for it)
	stopSIGTERM                  // SIGTERM (Telegraf's way), stdin closed too
)

// peerCmd is one peer ready to start.
type peerCmd struct {
	name   string
	argv   []string
	env    []string // nil: inherit
	output outputKind
	stop   stopKind
}

// pluginSettings are the box_events options every collector run uses.
type pluginSettings struct {
	baseURL     string
	stream      boxsim.Stream
	start       string // start_position
	stateFile   string
	subjectType string
	subjectID   string
	commitDelay time.Duration // 0: no commit pacing
}

// boxEventsTable is the [[inputs.box_events]] table of plugin.conf and telegraf.conf.
func boxEventsTable(s pluginSettings) string {
	var b strings.Builder
	b.WriteString("[[inputs.box_events]]\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "  %s = %s\n", k, strconv.Quote(v)) }
	kv("base_url", s.baseURL)
	kv("stream_type", string(s.stream))
	kv("start_position", s.start)
	b.WriteString("  page_size = 500\n")
	// No commit pacing unless asked (-commit-delay): the benchmark measures reading,
	// not the execd safety delay.
	kv("commit_delay", s.commitDelay.String())
	kv("state_file", s.stateFile)
	kv("auth", "client_credentials")
	kv("client_id", boxsim.DefaultClientID)
	kv("client_secret", boxsim.DefaultClientSecret)
	kv("subject_type", s.subjectType)
	kv("subject_id", s.subjectID)
	return b.String()
}

// subjectFor returns the token subject a collector of stream uses: the service
// account for enterprise streams, the user for user streams.
func subjectFor(stream boxsim.Stream) (typ, id string) {
	if stream.Enterprise() {
		return "enterprise", boxsim.DefaultEnterpriseID
	}
	return "user", boxsim.DefaultUserID
}

// telegrafBoxCmd writes plugin.conf into dir and returns the execd binary's command,
// exactly as inputs.execd runs it.
func telegrafBoxCmd(bin, dir string, s pluginSettings) (peerCmd, error) {
	conf := filepath.Join(dir, "plugin.conf")
	if err := os.WriteFile(conf, []byte(boxEventsTable(s)), 0o600); err != nil {
		return peerCmd{}, err
	}
	return peerCmd{
		name:   peerTelegrafBox,
		argv:   []string{bin, "-config", conf, "-poll_interval_disabled"},
		output: outputLines,
		stop:   stopStdinEOF,
	}, nil
}

// compiledInCmd writes telegraf.conf into dir and returns telegrafrun's command:
// Telegraf's agent with box_events compiled in, writing line protocol to stdout.
func compiledInCmd(bin, dir string, s pluginSettings) (peerCmd, error) {
	conf := filepath.Join(dir, "telegraf.conf")
	agent := `[agent]
  interval = "10s"
  flush_interval = "1s"
  flush_jitter = "0s"
  collection_jitter = "0s"
  metric_batch_size = 1000
  metric_buffer_limit = 100000
  omit_hostname = true

`
	outputs := `
[[outputs.file]]
  files = ["stdout"]
  data_format = "influx"
`
	if err := os.WriteFile(conf, []byte(agent+boxEventsTable(s)+outputs), 0o600); err != nil {
		return peerCmd{}, err
	}
	return peerCmd{
		name:   peerCompiledIn,
		argv:   []string{bin, "-config", conf},
		output: outputLines,
		stop:   stopSIGTERM,
	}, nil
}

// nodeCmd returns the Node SDK peer's command: scripts/bench/node/bench.js.
func nodeCmd(node, nodeDir, mode, baseURL string, stream boxsim.Stream, events int) peerCmd {
	// The SDK's HTTP agent honours the *_PROXY variables; the simulator is on loopback.
	environ := os.Environ()
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NO_PROXY=127.0.0.1,localhost")
	return peerCmd{
		name: peerNode,
		argv: []string{node, filepath.Join(nodeDir, "bench.js"),
			"--base-url", baseURL, "--token", developerToken, "--stream", string(stream),
			"--events", strconv.Itoa(events), "--mode", mode, "--limit", "500", "--position", "0",
			"--wait-stdin"},
		env:    env,
		output: outputJSON,
		stop:   stopStdinEOF,
	}
}

// eventID returns the event_id field of a line of line protocol, and false when the
// line has none. The field is found as `event_id="` after a space (the first field)
// or a comma; string field values escape their quotes, so a JSON text inside one
// cannot match.
func eventID(line []byte) ([]byte, bool) {
	const key = `event_id="`
	for from := 0; ; {
		i := bytes.Index(line[from:], []byte(key))
		if i < 0 {
			return nil, false
		}
		i += from
		if i > 0 && (line[i-1] == ' ' || line[i-1] == ',') {
			v := line[i+len(key):]
			for j := 0; j < len(v); j++ {
				switch v[j] {
				case '\\':
					j++
				case '"':
					return v[:j], true
				}
			}
			return nil, false
		}
		from = i + len(key)
	}
}

// signalStop asks a started peer to stop the way its supervisor would.
func signalStop(cmd *exec.Cmd, stdin interface{ Close() error }, kind stopKind) error {
	if err := stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	if kind == stopSIGTERM {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	return nil
}
