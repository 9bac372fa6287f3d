package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/plugins/inputs/box_events"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// The shim accepted unknown keys without a word: "stream_typ" silently read
// the default stream. The execd binary now refuses them like Telegraf.
func TestRun_UnknownOptionIsAnError(t *testing.T) {
	path := writeConf(t, `[[inputs.box_events]]
  client_id = "id"
  client_secret = "secret"
  subject_id = "1"
  stream_typ = "admin_logs"
  this_option_does_not_exist = "x"
`)
	done := make(chan error, 1)
	go func() { done <- run(path, 0, nil) }()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "stream_typ")
		require.ErrorContains(t, err, "this_option_does_not_exist")
		require.ErrorContains(t, err, "line 1")
		require.ErrorContains(t, err, "not used")
	case <-time.After(20 * time.Second):
		t.Fatal("telegraf-box started with a misspelt option")
	}
}

func TestLoadPlugin(t *testing.T) {
	t.Setenv("BOX_TEST_SECRET", "s3cr3t")
	ri, err := loadPlugin(writeConf(t, `# comment
[[inputs.box_events]]
  alias = "tenant_a"
  stream_type = "admin_logs_streaming"
  client_id = "id"
  client_secret = "${BOX_TEST_SECRET}"
  subject_id = "1"
  event_types = ["LOGIN"]
  [inputs.box_events.tags]
    tenant = "a"
`))
	require.NoError(t, err)
	p, ok := ri.Input.(*box_events.BoxEvents)
	require.True(t, ok)
	require.Equal(t, "admin_logs_streaming", p.StreamType)
	require.Equal(t, []string{"LOGIN"}, p.EventTypes)
	secret, err := p.ClientSecret.Get()
	require.NoError(t, err)
	require.Equal(t, "s3cr3t", secret.String())
	secret.Destroy()
	require.Equal(t, "tenant_a", ri.Config.Alias)
	m := ri.MakeMetric(metric.New("box_events", nil, map[string]interface{}{"event_id": "x"}, time.Unix(1, 0)))
	require.Equal(t, map[string]string{"tenant": "a"}, m.Tags(),
		"Telegraf's per-input options apply; the agent running inputs.execd adds host and its global tags")

	for _, bad := range []string{
		"",
		`[[inputs.box_events]]
[[inputs.box_events]]`,
		`[[inputs.box_events]]
[[outputs.file]]`,
		`[agent]
  interval = "1s"`,
		`[global_tags]
  dc = "x"
[[inputs.box_events]]`,
		`[agent]
  omit_hostname = false
[[inputs.box_events]]`,
	} {
		_, err := loadPlugin(writeConf(t, bad))
		require.Error(t, err, bad)
	}
	_, err = loadPlugin(writeConf(t, "[global_tags]\n  dc = \"x\"\n[[inputs.box_events]]\n"))
	require.ErrorContains(t, err, "global tags (dc): they belong in telegraf.conf")
	_, err = loadPlugin("")
	require.ErrorContains(t, err, "-config is required")
}

// service is a service input that emits what the test gives it.
type service struct {
	started  chan struct{} // closed by Start, after acc is set
	onStart  func()        // called by Start, if set
	onGather func()        // called by Gather, if set
	acc      telegraf.TrackingAccumulator
	mu       sync.Mutex
	stopped  bool
}

func newService() *service { return &service{started: make(chan struct{})} }

// waitStarted waits for Start.
func (s *service) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-s.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the input was not started")
	}
}

func (*service) SampleConfig() string { return "" }
func (s *service) Gather(telegraf.Accumulator) error {
	if s.onGather != nil {
		s.onGather()
	}
	return nil
}
func (s *service) Start(acc telegraf.Accumulator) error {
	s.acc = acc.WithTracking(10)
	if s.onStart != nil {
		s.onStart()
	}
	close(s.started)
	return nil
}
func (s *service) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

func newRunner(in telegraf.ServiceInput, stdin io.Reader, stdout io.Writer, log telegraf.Logger) *runner {
	return &runner{input: in, maker: demoMaker{log: log}, log: log, stdin: stdin, stdout: stdout}
}

// A metric the serializer refuses used to end the shim (and the execd child
// crash-looped at the same position): it is dropped with a warning instead,
// and the others are written and acknowledged.
func TestRunner_WritesAcknowledgesAndDropsUnwritable(t *testing.T) {
	in := newService()
	stdinR, stdinW := io.Pipe()
	var out syncBuffer
	logger := &testutil.CaptureLogger{}
	r := newRunner(in, stdinR, &out, logger)
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	in.waitStarted(t)

	ok := metric.New("box_events", map[string]string{"user": "a"}, map[string]interface{}{"event_id": "1"}, time.Unix(1, 0))
	empty := metric.New("box_events", map[string]string{"user": "b"}, nil, time.Unix(2, 0))
	id := in.acc.AddTrackingMetricGroup([]telegraf.Metric{ok, empty})
	select {
	case info := <-in.acc.Delivered():
		require.Equal(t, id, info.ID())
		require.True(t, info.Delivered())
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery notice")
	}
	require.Equal(t, "box_events,user=a event_id=\"1\" 1000000000\n", out.String())
	require.Len(t, logger.Warnings(), 1)
	require.Contains(t, logger.Warnings()[0], "cannot be written as line protocol")

	closeStdin(t, stdinW, done)
	in.mu.Lock()
	defer in.mu.Unlock()
	require.True(t, in.stopped)
}

// When stdout is gone (Telegraf died), what was not written is rejected, not
// acknowledged, and the runner stops.
func TestRunner_WriteFailureRejects(t *testing.T) {
	in := newService()
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	r := newRunner(in, stdinR, failingWriter{}, &testutil.CaptureLogger{})
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	in.waitStarted(t)
	m := metric.New("box_events", nil, map[string]interface{}{"event_id": "1"}, time.Unix(1, 0))
	in.acc.AddTrackingMetricGroup([]telegraf.Metric{m})
	select {
	case info := <-in.acc.Delivered():
		require.False(t, info.Delivered(), "a line that never reached stdout is not delivered")
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery notice")
	}
	select {
	case err := <-done:
		require.ErrorContains(t, err, "writing to stdout: broken pipe", "the process exits with an error")
	case <-time.After(10 * time.Second):
		t.Fatal("a broken stdout did not stop the runner")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}

// Under execd Telegraf cannot see the plugin's selfstat: the runner writes
// the self-metrics to stdout every stats_interval.
func TestRunner_WritesStats(t *testing.T) {
	in := newService()
	stdinR, stdinW := io.Pipe()
	var out syncBuffer
	r := newRunner(in, stdinR, &out, &testutil.CaptureLogger{})
	var n atomic.Int64
	r.stats = func() telegraf.Metric {
		return metric.New("internal_box_events", map[string]string{"stream_type": "all", "id": "audit"},
			map[string]interface{}{"events_emitted": n.Add(1)}, time.Unix(3, 0))
	}
	r.statsInterval = 10 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	in.waitStarted(t)
	require.Eventually(t, func() bool {
		return strings.HasPrefix(out.String(), "internal_box_events,id=audit,stream_type=all events_emitted=1i 3000000000\n"+
			"internal_box_events,id=audit,stream_type=all events_emitted=2i 3000000000\n")
	}, 10*time.Second, time.Millisecond)

	closeStdin(t, stdinW, done)
}

// stats_interval = "0s" writes no self-metrics.
func TestRunner_StatsOff(t *testing.T) {
	in := newService()
	stdinR, stdinW := io.Pipe()
	var out syncBuffer
	r := newRunner(in, stdinR, &out, &testutil.CaptureLogger{})
	r.stats = func() telegraf.Metric {
		t.Error("stats asked for although stats_interval is 0")
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	in.waitStarted(t)
	closeStdin(t, stdinW, done)
	require.Empty(t, out.String())
}

// A page of events is one tracked group: it reaches stdout in one write, each
// metric through the input's options (MakeMetric), and a metric the options
// filter out counts as delivered, as in Telegraf's accumulator. Metrics added
// without tracking are written too.
func TestRunner_GroupIsOneWrite(t *testing.T) {
	in := newService()
	stdinR, stdinW := io.Pipe()
	out := &countingWriter{}
	log := &testutil.CaptureLogger{}
	r := &runner{input: in, maker: taggingMaker{log: log}, log: log, stdin: stdinR, stdout: out}
	done := make(chan error, 1)
	go func() { done <- r.run() }()
	in.waitStarted(t)

	group := make([]telegraf.Metric, 0, maxBatch)
	for i := range maxBatch {
		tags := map[string]string{"user": "u"}
		if i%100 == 7 {
			tags["drop"] = "yes"
		}
		group = append(group, metric.New("box_events", tags, map[string]interface{}{"n": i}, time.Unix(int64(i), 0)))
	}
	id := in.acc.AddTrackingMetricGroup(group)
	select {
	case info := <-in.acc.Delivered():
		require.Equal(t, id, info.ID())
		require.True(t, info.Delivered())
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery notice")
	}
	writes, text := out.get()
	require.Equal(t, 1, writes, "a page is one write")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Len(t, lines, maxBatch-5, "the five filtered out are not written")
	require.Equal(t, "box_events,tenant=a,user=u n=0i 0", lines[0])

	in.acc.AddFields("box_events", map[string]interface{}{"n": -1}, nil, time.Unix(9, 0))
	require.Eventually(t, func() bool {
		_, text := out.get()
		return strings.HasSuffix(text, "box_events,tenant=a n=-1i 9000000000\n")
	}, 10*time.Second, time.Millisecond)

	closeStdin(t, stdinW, done)
}

// taggingMaker applies options the way a RunningInput does: a tag added to
// every metric, and a filter dropping those tagged drop.
type taggingMaker struct{ log telegraf.Logger }

func (taggingMaker) LogName() string        { return "inputs.box_events" }
func (m taggingMaker) Log() telegraf.Logger { return m.log }
func (taggingMaker) MakeMetric(m telegraf.Metric) telegraf.Metric {
	if m.HasTag("drop") {
		m.Drop()
		return nil
	}
	m.AddTag("tenant", "a")
	return m
}

type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) get() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.buf.String()
}

// closeStdin closes the runner's stdin, as Telegraf does to stop the plugin, and waits for
// run to return without an error.
func closeStdin(t *testing.T, stdin io.Closer, done <-chan error) {
	t.Helper()
	require.NoError(t, stdin.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("stdin EOF did not stop the runner")
	}
}

// The demo reads stdin's end as Ctrl-D except on the null device, whose end is there from
// the start (plugin_test's TestIntegrationDemo runs the binary both ways).
func TestIsNullDevice(t *testing.T) {
	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()
	require.True(t, isNullDevice(null))

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.False(t, isNullDevice(r), "a pipe")

	file, err := os.Create(filepath.Join(t.TempDir(), "stdin"))
	require.NoError(t, err)
	defer file.Close()
	require.False(t, isNullDevice(file), "a file")
	require.NoError(t, file.Close())
	require.False(t, isNullDevice(file), "a closed file cannot be told apart, so it is read")
}

// Telegraf keeps a reference to an environment variable that is not set as
// written: with BOX_CLIENT_SECRET missing from the process's environment (no
// environment = [...] in the execd block), the input started and sent
// "${BOX_CLIENT_SECRET}" to Box as the secret, which Box refused at run time
// ("invalid_client", every 5 minutes) as if the secret were wrong.
func TestLoadPlugin_UnsetEnvironmentVariableIsAnError(t *testing.T) {
	t.Setenv("BOX_TEST_UNSET", "")
	require.NoError(t, os.Unsetenv("BOX_TEST_UNSET"))
	t.Setenv("BOX_TEST_ID", "id")
	_, err := loadPlugin(writeConf(t, `[[inputs.box_events]]
  # client_secret = "${BOX_TEST_COMMENTED_OUT}"
  client_id = "${BOX_TEST_ID}"
  subject_id = "${BOX_TEST_UNSET_TOO:-1}"
  client_secret = "${BOX_TEST_UNSET}"
`))
	require.ErrorContains(t, err, "line 5")
	require.ErrorContains(t, err, "client_secret")
	require.ErrorContains(t, err, "BOX_TEST_UNSET is not set")
	require.NotContains(t, err.Error(), "BOX_TEST_COMMENTED_OUT")
	// Where to set it: Telegraf's own environment, which inputs.execd passes on
	// (docs/AUTH.md), not the execd block's environment = [...], which would
	// put a secret in telegraf.conf, often readable by every user.
	require.ErrorContains(t, err, "set BOX_TEST_UNSET in the environment Telegraf runs with")
	require.NotContains(t, err.Error(), "environment = [")
}

// An [agent] table in plugin.conf was accepted and did nothing: "debug = true"
// there turned no debug line on (that is telegraf-box's -debug), "hostname" set
// no host, while the loader says the file holds one [[inputs.box_events]] table
// and nothing else.
func TestLoadPlugin_AgentTableIsAnError(t *testing.T) {
	_, err := loadPlugin(writeConf(t, `[[inputs.box_events]]
  client_id = "id"
  client_secret = "secret"
  subject_id = "1"

[agent]
  debug = true
`))
	require.ErrorContains(t, err, "line 6: an [agent] table")
	require.ErrorContains(t, err, "-debug")
}

// plugin.conf saved on Windows: CRLF line ends, and a UTF-8 byte order mark from Notepad's
// "UTF-8 with BOM". Telegraf's loader drops the mark; the checks it does not make (an unset
// environment variable, an [agent] table) must still see the file.
func TestLoadPlugin_FileEditedOnWindows(t *testing.T) {
	t.Setenv("BOX_TEST_UNSET", "")
	require.NoError(t, os.Unsetenv("BOX_TEST_UNSET"))
	const good = "[[inputs.box_events]]\n  client_id = \"id\"\n  client_secret = \"secret\"\n  subject_id = \"1\"\n"
	for name, edit := range map[string]func(string) string{
		"CRLF":         func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") },
		"BOM":          func(s string) string { return "\uFEFF" + s },
		"BOM and CRLF": func(s string) string { return "\uFEFF" + strings.ReplaceAll(s, "\n", "\r\n") },
	} {
		t.Run(name, func(t *testing.T) {
			ri, err := loadPlugin(writeConf(t, edit(good)))
			require.NoError(t, err)
			require.Equal(t, "1", ri.Input.(*box_events.BoxEvents).SubjectID)

			_, err = loadPlugin(writeConf(t, edit(good+"  stream_type = \"${BOX_TEST_UNSET}\"\n")))
			require.ErrorContains(t, err, "line 5: stream_type refers to ${BOX_TEST_UNSET}")

			_, err = loadPlugin(writeConf(t, edit(good+"\n[agent]\n  debug = true\n")))
			require.ErrorContains(t, err, "line 6: an [agent] table")
		})
	}
}
