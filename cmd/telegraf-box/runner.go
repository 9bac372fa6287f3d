package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
)

const (
	// maxBatch bounds the metrics gathered into one write, unless one group of
	// tracked metrics (a page) is larger: a group is written at once.
	maxBatch = 500
	// queuedBatches bounds the batches waiting for the writer.
	queuedBatches = 4
	// maxKeptOutput bounds the output buffer kept for the next batch: a page's lines are
	// well below it, a batch of huge metrics is not kept for ever.
	maxKeptOutput = 4 << 20
	// keptOutputFloor is the size up to which the output buffer is kept whatever the batch
	// used; a larger one only while batches fill a quarter of it, so that what a burst of large
	// events grew is given back once batches are usual again (as boxevents does with the
	// buffers it reads pages into).
	keptOutputFloor = 1 << 20
)

// runner runs a service input the way Telegraf's execd shim does: metrics go
// to stdout as InfluxDB line protocol; stdin EOF, SIGINT or SIGTERM stop it
// cleanly (the input's Stop runs, then what it emitted is written out), and
// SIGHUP, like a line on stdin, asks for a Gather. Unlike
// the shim it writes what is ready in one write (a page of events, which its
// accumulator hands over as one batch, at least) and acknowledges metrics only
// once they reached stdout, and a metric that cannot be written as line
// protocol is dropped with a warning instead of ending the process (which
// under inputs.execd restarts at the same position for ever).
type runner struct {
	input        telegraf.ServiceInput
	maker        agent.MetricMaker
	log          telegraf.Logger
	stdin        io.Reader // nil: not read; only a signal stops the runner
	stdout       io.Writer
	pollInterval time.Duration // 0: Gather is never called (the input pushes)
	signals      bool          // stop on SIGINT or SIGTERM, Gather on each of hangups
	// hangups delivers the SIGHUPs caught since main began (catchHangups):
	// inputs.execd may send one while the process starts. nil: none.
	hangups <-chan os.Signal
	// stats returns the input's self-metrics, written every statsInterval
	// (0: never). Not after Stop: Telegraf may have closed the pipe by then,
	// and a write to it would end the process. They go to stdout as they are,
	// not through maker: like [[inputs.internal]]'s, they are not the
	// input's metrics, so its name_override or tags do not apply.
	stats         func() telegraf.Metric
	statsInterval time.Duration
}

// run starts the input and returns once it stopped and everything it emitted
// was written. A write to stdout that failed stops it too, and is its error
// (as Telegraf's shim exits with one), after the input's Stop.
func (r *runner) run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gather := make(chan struct{}, 1)
	if r.signals {
		// Before Start, as the input may emit at once: a SIGINT or SIGTERM
		// from then on stops the runner (the input's Stop saves its state)
		// rather than killing the process. A SIGHUP asks for a Gather, as a
		// line on stdin does: inputs.execd's signal = "SIGHUP" sends one each
		// interval, and stopping on it stopped telegraf-box every interval,
		// before any page aged past commit_delay, so nothing was ever
		// committed and each restart wrote the same events again. Nor may it
		// kill the process (Go's default), skipping Stop: a closed terminal
		// ends stdin too, and Telegraf closes stdin to stop its children (its
		// reload after `pkill -HUP telegraf`, which matches this process,
		// too), which stops the runner cleanly. A SIGHUP that was ignored
		// (nohup) stays ignored. main catches SIGHUP first thing (hangups):
		// execd may send one while the process starts. Handling SIGPIPE
		// makes a write to a stdout nobody reads any more (Telegraf died)
		// fail, which stops the runner as cleanly; nothing else needs that
		// signal itself.
		quit := make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(quit)
		hup := r.hangups
		pipe := make(chan os.Signal, 1)
		signal.Notify(pipe, syscall.SIGPIPE)
		defer signal.Stop(pipe)
		go func() {
			for {
				select {
				case <-quit:
					cancel()
					return
				case <-hup:
					select {
					case gather <- struct{}{}:
					default:
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	batches := make(chan []telegraf.Metric, queuedBatches)
	acc := newAccumulator(r.maker, batches)
	if err := r.input.Start(acc); err != nil {
		return fmt.Errorf("starting the input: %w", err)
	}

	var (
		wg       sync.WaitGroup
		writeErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		writeErr = r.write(batches, cancel)
	}()
	if r.stdin != nil {
		go r.readStdin(gather, cancel)
	}

	var tick, statsTick <-chan time.Time
	if r.pollInterval > 0 {
		t := time.NewTicker(r.pollInterval)
		defer t.Stop()
		tick = t.C
	}
	if r.stats != nil && r.statsInterval > 0 {
		t := time.NewTicker(r.statsInterval)
		defer t.Stop()
		statsTick = t.C
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-gather:
			r.gather(acc)
		case <-tick:
			r.gather(acc)
		case <-statsTick:
			r.writeStats(ctx, batches)
		}
	}
	r.input.Stop()
	close(batches)
	wg.Wait()
	return writeErr
}

// catchHangups catches SIGHUP from now on (unless it was ignored, as under
// nohup: the channel then never receives) and returns the channel it is
// delivered to, for the runner's hangups. Go's default is to end the process.
func catchHangups() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Notify(ch, syscall.SIGHUP)
	}
	return ch
}

// readStdin asks for a Gather for each line of stdin and cancels at its end:
// Telegraf closes stdin to stop the plugin, and sends a line to ask for a Gather
// (execd's signal = "STDIN").
func (r *runner) readStdin(gather chan<- struct{}, cancel context.CancelFunc) {
	scanner := bufio.NewScanner(r.stdin)
	for scanner.Scan() {
		select {
		case gather <- struct{}{}:
		default:
		}
	}
	cancel()
}

// writeStats queues the input's self-metrics for stdout.
func (r *runner) writeStats(ctx context.Context, batches chan<- []telegraf.Metric) {
	m := r.stats()
	if m == nil {
		return
	}
	select {
	case batches <- []telegraf.Metric{m}:
	case <-ctx.Done():
	}
}

func (r *runner) gather(acc telegraf.Accumulator) {
	if err := r.input.Gather(acc); err != nil {
		acc.AddError(err)
	}
}

// write serializes the batches that are ready and writes them in one write. A
// metric is accepted only once its line was written, and rejected when the
// write failed (stdout is gone: the process stops, and write returns the
// failure once batches is closed). A metric
// the serializer cannot write at all (no field, no name) is left out of the
// batch and counted in a warning; it counts as delivered, like a metric an
// output filters out.
func (r *runner) write(batches <-chan []telegraf.Metric, stop context.CancelFunc) error {
	lines, err := newLineWriter()
	if err != nil {
		panic(err) // the default configuration always initialises
	}
	var (
		pending = make([]telegraf.Metric, 0, maxBatch)
		out     []byte // reused: written out before the next batch
		dropped int
		broken  error // the write that failed
	)
	flush := func() {
		defer func() {
			clear(pending)
			pending = pending[:0]
		}()
		if broken != nil {
			for _, m := range pending {
				m.Reject()
			}
			return
		}
		out = out[:0]
		n := 0
		for _, m := range pending {
			var ok bool
			if out, ok = lines.appendMetric(out, m); !ok {
				n++
			}
		}
		if n > 0 {
			dropped += n
			r.log.Warnf("Dropped %d metrics that cannot be written as line protocol; %d dropped so far", n, dropped)
		}
		var err error
		if len(out) > 0 {
			_, err = r.stdout.Write(out)
		}
		if c := cap(out); c > maxKeptOutput || (c > keptOutputFloor && c > 4*len(out)) {
			out = nil
		}
		if err != nil {
			broken = fmt.Errorf("writing to stdout: %w", err)
			r.log.Errorf("Writing to stdout failed, stopping: %v", err)
			stop()
			for _, m := range pending {
				m.Reject()
			}
			return
		}
		for _, m := range pending {
			m.Accept()
			release(m)
		}
	}
	for batch := range batches {
		pending = append(pending, batch...)
		// Take what else is ready without waiting, then write it at once.
	more:
		for len(pending) < maxBatch {
			select {
			case next, ok := <-batches:
				if !ok {
					break more
				}
				pending = append(pending, next...)
			default:
				break more
			}
		}
		flush()
	}
	return broken
}

// release gives a metric the runner wrote and acknowledged back to the input that made it, if
// that input reuses its metrics (box_events does): after its write the runner is the metric's
// last owner.
func release(m telegraf.Metric) {
	if u, ok := m.(telegraf.UnwrappableMetric); ok {
		m = u.Unwrap()
	}
	if r, ok := m.(interface{ Release() }); ok {
		r.Release()
	}
}
