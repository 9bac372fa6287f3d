//go:generate ../../../tools/readme_config_includer/generator
package box_events

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/proxy"
	"github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/selfstat"

	"github.com/telegraf-box/telegraf-box/internal/boxauth"
	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

//go:embed sample.conf
var sampleConfig string

const (
	defaultBaseURL             = "https://api.box.com"
	defaultPageSize            = 500
	defaultTimeout             = 60 * time.Second
	defaultDedupWindow         = 10000
	defaultMaxUndeliveredPages = 10
	defaultStreamingInterval   = 15 * time.Second
	defaultAdminLogsInterval   = 60 * time.Second
	defaultBackfillSettle      = 2 * time.Minute
	// stopAuthTimeout bounds how long Stop waits for a token request in
	// flight: a refresh-token rotation must reach the disk before exit.
	stopAuthTimeout = 5 * time.Second

	onInvalidFail      = "fail"
	onInvalidNow       = "now"
	onInvalidBeginning = "beginning"
	onInvalidLookback  = "lookback"
)

// BoxEvents streams events from Box's Events API. User streams are read with
// Box's long-poll protocol, enterprise streams are polled. Every event becomes
// one metric, and the stream position is committed only once the outputs have
// taken the events before it.
type BoxEvents struct {
	BaseURL       string          `toml:"base_url"`
	StreamType    string          `toml:"stream_type"`
	StartPosition string          `toml:"start_position"`
	EventTypes    []string        `toml:"event_types"`
	CreatedAfter  string          `toml:"created_after"`
	CreatedBefore string          `toml:"created_before"`
	PageSize      int             `toml:"page_size"`
	PollInterval  config.Duration `toml:"poll_interval"`
	Timeout       config.Duration `toml:"timeout"`

	UserTag           string   `toml:"user_tag"`
	EventJSON         bool     `toml:"event_json"`
	EnterpriseDomains []string `toml:"enterprise_domains"`

	Auth           string        `toml:"auth"`
	ClientID       string        `toml:"client_id"`
	ClientSecret   config.Secret `toml:"client_secret"`
	SubjectType    string        `toml:"subject_type"`
	SubjectID      string        `toml:"subject_id"`
	DeveloperToken config.Secret `toml:"developer_token"`
	JWTConfigFile  string        `toml:"jwt_config_file"`
	JWTPassphrase  config.Secret `toml:"jwt_passphrase"`
	JWTAlgorithm   string        `toml:"jwt_algorithm"`
	RefreshToken   string        `toml:"refresh_token_file"`
	AsUser         string        `toml:"as_user"`

	StateFile               string          `toml:"state_file"`
	DedupWindow             int             `toml:"dedup_window"`
	MaxUndeliveredPages     int             `toml:"max_undelivered_pages"`
	CommitDelay             config.Duration `toml:"commit_delay"`
	OnInvalidPosition       string          `toml:"on_invalid_position"`
	InvalidPositionLookback config.Duration `toml:"invalid_position_lookback"`

	// StatsInterval is read by telegraf-box under execd (see stats.go).
	StatsInterval config.Duration `toml:"stats_interval"`

	Log        telegraf.Logger     `toml:"-"`
	Statistics *selfstat.Collector `toml:"-"` // set by Telegraf; it holds the alias (see statsID)

	tls.ClientConfig
	proxy.HTTPProxy

	// Set before Init by the factory or by tests.
	clock           clock.Clock
	backfillSettle  time.Duration
	positionRefresh time.Duration
	dialContext     func(ctx context.Context, network, addr string) (net.Conn, error) // tests only

	// Built by Init; they never change afterwards.
	cfg       *settings
	id        identity
	http      *http.Client // every request's; Stop closes its idle connections
	tokens    tokenSource
	tracker   *tracker
	reader    *reader
	statePath *stateFile // nil without state_file
	fileState bool       // the state came from state_file, which wins over the agent's
	stats     *stats     // self-metrics; unregistered by Stop

	acc     telegraf.TrackingAccumulator
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool // Stop ran: commits are written to state_file at once
}

// tokenSource is what every internal/boxauth source offers.
type tokenSource interface {
	boxevents.Authenticator
	Close(ctx context.Context) error
}

func (*BoxEvents) SampleConfig() string {
	return sampleConfig
}

func (b *BoxEvents) Init() (err error) {
	if b.clock == nil {
		b.clock = clock.New()
	}
	if b.cfg, err = newSettings(b); err != nil {
		return err
	}
	b.id = b.identity(b.cfg)
	if err := checkStatsInterval(time.Duration(b.StatsInterval)); err != nil {
		return err
	}
	httpClient, err := b.httpClient()
	if err != nil {
		return err
	}
	b.http = httpClient

	// state_file first: a second instance on the same file fails here,
	// before it could spend a refresh token.
	var saved *State
	if b.StateFile != "" {
		if b.statePath, saved, err = openStateFile(b.StateFile); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				b.statePath.close()
				b.statePath = nil
			}
		}()
	}
	if b.tokens, err = b.authenticator(httpClient); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			b.tokens.Close(context.Background()) // nothing is in flight yet, nothing to report
		}
	}()
	b.stats = newStats(b.clock, b.cfg.stream, statsID(b.Statistics, b.id.id()))
	defer func() {
		if err != nil {
			b.stats.close()
			b.stats = nil
		}
	}()
	if o, ok := b.tokens.(interface{ Observe(boxauth.Observer) }); ok {
		o.Observe(b.stats.authObserver())
	}
	client, err := boxevents.New(boxevents.Config{
		BaseURL:        b.cfg.baseURL,
		HTTPClient:     httpClient,
		Auth:           b.tokens,
		Clock:          b.clock,
		UserAgent:      userAgent,
		AsUser:         b.AsUser,
		RequestTimeout: time.Duration(b.Timeout),
		Observer:       b.stats.clientObserver(),
		KeepEventJSON:  b.EventJSON,
	})
	if err != nil {
		return err
	}
	b.tracker = newTracker(b.clock, b.cfg.commitDelay, b.cfg.pageSize, b.MaxUndeliveredPages, b.DedupWindow)
	b.stats.tracker = b.tracker
	b.reader = newReader(b.cfg, client, b.tracker, b.clock, b.Log, b.stats)
	b.reader.committed = b.saveState
	if saved != nil {
		if saved.ID != "" && saved.ID != b.id.id() {
			return fmt.Errorf("state_file %q was written for another stream (id %.12s: %s) than this configuration reads "+
				"(id %.12s: %s); point state_file to another file, or remove it to start from start_position",
				b.StateFile, saved.ID, saved.Stream, b.id.id(), b.id)
		}
		if err := b.restore(*saved); err != nil {
			return fmt.Errorf("state_file %q: %w", b.StateFile, err)
		}
		b.fileState = true
		b.Log.Infof("Resuming %s stream at %s from state_file %q", b.cfg.stream, saved.resumeAt(), b.StateFile)
	}
	return nil
}

// httpClient builds the one HTTP client of the plugin, with the TLS and proxy
// options. It has no overall timeout: the client times each request itself,
// and long polls are held for up to Box's retry_timeout. It never follows a
// redirect (the Box client and the token sources refuse them too): a
// redirect would carry credentials to the host it names.
func (b *BoxEvents) httpClient() (*http.Client, error) {
	tlsConfig, err := b.ClientConfig.TLSConfig()
	if err != nil {
		return nil, err
	}
	proxyFunc, err := b.HTTPProxy.Proxy()
	if err != nil {
		// Not wrapped: Telegraf's error quotes the URL, password included.
		return nil, errors.New("invalid http_proxy_url: it does not parse as a URL such as \"http://user:password@proxy.example.com:3128\" " +
			"(percent-encode characters such as # % @ / : in the user or password, e.g. # as %23); its value is not quoted, " +
			"as it may hold a password")
	}
	if err := checkProxyURL(b.HTTPProxyURL, b.UseSystemProxy); err != nil {
		return nil, err
	}
	if err := checkProxy(b.cfg.baseURL, proxyFunc); err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.Proxy = proxyFunc
	transport.OnProxyConnectResponse = proxyRefusal
	if b.dialContext != nil {
		transport.DialContext = b.dialContext
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// proxyRefusal reports a proxy's refusal of a CONNECT tunnel as the proxy's
// answer: Go's transport fails with the bare status text ("Forbidden", "Bad
// Gateway"), which reads as Box's own answer. The proxy is named by its host,
// never its URL, which may hold a password.
func proxyRefusal(_ context.Context, proxyURL *url.URL, connectReq *http.Request, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	refused := fmt.Sprintf("the proxy %s answered %d %s to the tunnel to %s", proxyURL.Host, resp.StatusCode,
		http.StatusText(resp.StatusCode), connectReq.Host)
	if resp.StatusCode == http.StatusProxyAuthRequired {
		if schemes := proxyAuthSchemes(resp.Header); len(schemes) > 0 && !slices.Contains(schemes, "Basic") {
			return fmt.Errorf("%s and offers only %s: Go's proxy support does Basic authentication only (the user and password "+
				"in http_proxy_url or HTTPS_PROXY); have the proxy accept Basic for this host, or go through a local proxy that "+
				"authenticates for it (such as cntlm or px)", refused, strings.Join(schemes, ", "))
		}
		return errors.New(refused + ": check the proxy's user and password in http_proxy_url (or HTTPS_PROXY with use_system_proxy), " +
			"percent-encoded, as http://user:password@proxy:port")
	}
	return fmt.Errorf("%s, not Box: check that the proxy allows %s", refused, connectReq.Host)
}

// proxyAuthSchemes returns the authentication schemes a 407's
// Proxy-Authenticate offers ("Basic", "NTLM", "Negotiate" ...), at most a
// few, each a bounded token.
func proxyAuthSchemes(h http.Header) []string {
	var schemes []string
	for _, v := range h.Values("Proxy-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if scheme == "" || len(scheme) > 32 || strings.ContainsFunc(scheme, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
		}) {
			continue
		}
		if strings.EqualFold(scheme, "basic") {
			scheme = "Basic"
		}
		if !slices.Contains(schemes, scheme) && len(schemes) < 5 {
			schemes = append(schemes, scheme)
		}
	}
	return schemes
}

// checkProxyURL refuses an http_proxy_url that Go's transport cannot dial:
// one without a scheme ("proxy.example.com:3128", as curl and HTTPS_PROXY
// take it) parses as the scheme "proxy.example.com" with no host, and every
// request would fail with "dial tcp :0". Only the scheme is quoted: the URL
// may hold a password. use_system_proxy wins over http_proxy_url.
func checkProxyURL(raw string, useSystemProxy bool) error {
	if raw == "" || useSystemProxy {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("invalid http_proxy_url: it does not parse") // Telegraf's parse, before, says more; never quote it
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case u.Host == "" && u.Opaque != "":
		return errors.New(`invalid http_proxy_url: it has no scheme; want a URL such as "http://proxy.example.com:3128"`)
	case scheme != "http" && scheme != "https" && scheme != "socks5" && scheme != "socks5h":
		return fmt.Errorf(`invalid http_proxy_url: scheme %q is not http, https, socks5 or socks5h; want a URL such as "http://proxy.example.com:3128"`,
			u.Scheme)
	case u.Host == "":
		return errors.New(`invalid http_proxy_url: it has no host; want a URL such as "http://proxy.example.com:3128"`)
	}
	return nil
}

// checkProxy refuses a proxy on another host for a plain-http base_url:
// plain http is accepted only on a loopback address, where it never leaves
// this host, and a proxy would carry it (client secret and token in clear
// text) to its own host. proxyFunc is asked as the transport will ask it:
// http_proxy_url proxies every request, loopback ones included; the
// environment's proxy (use_system_proxy) skips loopback addresses, but not
// "LOCALHOST" spelt in capitals. https goes through any proxy as a tunnel.
// The error names the proxy's host, never its URL, which may hold a password.
func checkProxy(baseURL string, proxyFunc func(*http.Request) (*url.URL, error)) error {
	base, err := url.Parse(baseURL) // checked by Init already
	if err != nil {
		return err
	}
	if base.Scheme != "http" || proxyFunc == nil {
		return nil
	}
	via, err := proxyFunc(&http.Request{Method: http.MethodPost, URL: base.JoinPath("oauth2", "token"), Header: http.Header{}})
	if err != nil {
		// Not wrapped: it may quote the proxy's URL, password included.
		return errors.New("the proxy for base_url cannot be used: check http_proxy_url or the environment's HTTP_PROXY")
	}
	if via == nil || via.Host == "" || isLoopback(via.Hostname()) {
		return nil // a proxy URL without a host is the transport's to report
	}
	return fmt.Errorf("the proxy on %s would receive Box credentials in clear text from the plain http base_url %q; "+
		"use https, or a proxy on a loopback address (http_proxy_url, use_system_proxy)", via.Host, baseURL)
}

func (b *BoxEvents) Start(acc telegraf.Accumulator) error {
	// The tracker lets at most noticeCapacity groups wait for their delivery
	// notice, so the notices never overflow the channel sized here (Telegraf
	// panics if they do). Under commit_delay a delivered group waits for its
	// commit without a notice outstanding: the uncommitted events are bounded
	// by page_size × max_undelivered_pages.
	b.acc = acc.WithTracking(b.tracker.noticeCapacity())
	b.reader.acc = b.acc
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		b.receiveDeliveries(ctx)
	}()
	go func() {
		defer b.wg.Done()
		if b.cfg.stream.Enterprise() {
			b.reader.run(ctx, b.reader.pollEnterprise)
		} else {
			b.reader.run(ctx, newUserStream(b.reader).step)
		}
	}()
	return nil
}

// Gather adds nothing (events are pushed as they come); it brings the
// gauges of the self-metrics up to date.
func (b *BoxEvents) Gather(telegraf.Accumulator) error {
	if b.stats != nil {
		b.stats.refresh()
	}
	return nil
}

// SelfMetric returns the input's self-metrics as they are now, as
// [[inputs.internal]] reports them compiled in: telegraf-box writes it under
// execd every stats_interval. Nil before Init; after Stop it holds the final
// counts.
func (b *BoxEvents) SelfMetric() telegraf.Metric {
	if b.stats == nil {
		return nil
	}
	return b.stats.metric()
}

func (b *BoxEvents) Stop() {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	b.stopped.Store(true)
	if b.acc != nil {
		// Commit what was delivered, and under commit_delay only what has
		// aged: a page written to the pipe just before Telegraf died may never
		// have reached its outputs, so it is read again after the restart.
		// What aged since the last tick is saved like any commit.
		b.applyPendingDeliveries()
		if b.tracker.commitAged() {
			b.saveState()
		}
	}
	b.flushState()
	if b.tokens != nil {
		// A refresh-token rotation in flight must reach the disk (Box has
		// spent the old token once it answers); other token requests change
		// nothing worth waiting for, and Close cancels them.
		ctx, cancel := context.WithTimeout(context.Background(), stopAuthTimeout)
		if b.Auth != authOAuth2Refresh {
			cancel()
		}
		if err := b.tokens.Close(ctx); err != nil && b.Auth == authOAuth2Refresh {
			b.Log.Warnf("Stopping with a refresh of %q still in flight after %s: %v", b.RefreshToken, stopAuthTimeout, err)
		}
		cancel()
	}
	if b.http != nil {
		// The transport is this instance's own: its keep-alive connections
		// would stay open until their idle timeout, after a reload too.
		b.http.CloseIdleConnections()
	}
	if b.statePath != nil {
		b.statePath.close()
	}
	if b.stats != nil {
		b.stats.close()
	}
}

// ID identifies the plugin's saved state. It is derived from what decides
// which events the stream holds (endpoint, stream type, subject, as-user,
// event types, time window, start position), normalised, and not from options
// such as poll_interval or tags, so that tuning those does not throw the
// saved position away, and two inputs that read different events never
// share one.
func (b *BoxEvents) ID() string {
	if b.cfg != nil {
		return b.id.id()
	}
	// Before Init (Telegraf asks after it): derive without keeping anything.
	cfg, err := newSettings(b)
	if err != nil {
		return ""
	}
	return b.identity(cfg).id()
}

// GetState returns the committed position. Telegraf stores the state after
// the outputs' last flush, which happens after Stop, so delivery notices that
// arrived since then are applied first.
func (b *BoxEvents) GetState() interface{} {
	if b.reader == nil {
		return State{StreamType: b.StreamType}
	}
	b.applyPendingDeliveries()
	return b.state()
}

func (b *BoxEvents) SetState(state interface{}) error {
	st, ok := state.(State)
	if !ok {
		return fmt.Errorf("state has to be of type %T, got %T", State{}, state)
	}
	if b.fileState {
		b.Log.Debugf("Ignoring the agent's saved position %q: state_file %q is newer", st.StreamPosition, b.StateFile)
		return nil
	}
	if st.StreamPosition == "" && !st.awaitingCurrent() {
		return nil
	}
	if err := b.restore(st); err != nil {
		return err
	}
	b.Log.Infof("Resuming %s stream at %s", b.cfg.stream, st.resumeAt())
	return nil
}

// restore loads saved state into the reader.
func (b *BoxEvents) restore(st State) error {
	if st.StreamType != "" && st.StreamType != string(b.cfg.stream) {
		return fmt.Errorf("saved state is for stream_type %q, not %q", st.StreamType, b.cfg.stream)
	}
	// "0" is where a stream read from Box's oldest events stands until its
	// first page is committed (start_position "beginning" or a time, a
	// backfill, on_invalid_position "beginning" or "lookback"); a stop
	// before that saves it, and the stream resumes there.
	if pos := boxevents.StreamPosition(st.StreamPosition); pos != "0" && !pos.Resumable() && !st.awaitingCurrent() {
		return fmt.Errorf("saved stream_position %q is not a Box stream position", st.StreamPosition)
	}
	var notBefore time.Time
	if st.NotBefore != "" {
		t, err := time.Parse(time.RFC3339Nano, st.NotBefore)
		if err != nil {
			return fmt.Errorf("saved not_before %q: %w", st.NotBefore, err)
		}
		notBefore = t
	}
	var bf *backfill
	if st.Backfill != nil {
		before, err := time.Parse(time.RFC3339Nano, st.Backfill.CreatedBefore)
		handover := boxevents.StreamPosition(st.Backfill.HandoverPosition)
		if err != nil || !handover.Resumable() {
			return fmt.Errorf("saved backfill %+v is not valid", *st.Backfill)
		}
		bf = &backfill{before: before, handover: handover}
	}
	keys, err := decodeKeys(st.RecentEvents)
	if err != nil {
		return fmt.Errorf("saved state: %w", err)
	}
	for _, id := range st.RecentEventIDs {
		keys = append(keys, keyOf(id))
	}
	b.reader.restore(boxevents.StreamPosition(st.StreamPosition), keys, notBefore, bf)
	return nil
}

func (b *BoxEvents) state() State {
	c := b.reader.snapshot()
	pos, keys, notBefore, bf := c.pos, c.keys, c.notBefore, c.backfill
	st := State{
		ID:             b.id.id(),
		Stream:         b.id.String(),
		StreamType:     string(b.cfg.stream),
		StreamPosition: string(pos),
		RecentEvents:   encodeKeys(keys),
	}
	if !notBefore.IsZero() {
		st.NotBefore = notBefore.UTC().Format(time.RFC3339Nano)
	}
	if bf != nil {
		st.Backfill = &BackfillState{
			CreatedBefore:    bf.before.UTC().Format(time.RFC3339Nano),
			HandoverPosition: string(bf.handover),
		}
	}
	return st
}

// receiveDeliveries applies the outputs' delivery notices until ctx ends.
// Under commit_delay it also commits groups as they age.
func (b *BoxEvents) receiveDeliveries(ctx context.Context) {
	var aged, flush <-chan time.Time
	if delay := b.cfg.commitDelay; delay > 0 {
		ticker := b.clock.Ticker(min(delay/4+time.Millisecond, time.Second))
		defer ticker.Stop()
		aged = ticker.C
	}
	if b.statePath != nil {
		ticker := b.clock.Ticker(stateWriteEvery)
		defer ticker.Stop()
		flush = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case info := <-b.acc.Delivered():
			b.onDelivery(info)
		case <-aged:
			if b.tracker.commitAged() {
				b.saveState()
			}
		case <-flush:
			b.flushState()
		}
	}
}

// applyPendingDeliveries applies the notices already queued, without waiting.
func (b *BoxEvents) applyPendingDeliveries() {
	if b.acc == nil {
		return
	}
	for {
		select {
		case info := <-b.acc.Delivered():
			b.onDelivery(info)
		default:
			return
		}
	}
}

// rejectsReported is the rejection since the last commit at which the
// plugin says what a streak of them means, once (a warning, not an error:
// Telegraf's --test rejects every metric, and an error would fail it), and
// from which it isolates the events the outputs refuse (isolateAfter). A
// buffer that overflowed briefly rejects a page a few times (it is then read
// alone, with a backoff, 16 s by the sixth), while an output that refuses
// its events for good, or a long outage with other inputs filling the
// buffer, rejects it on and on.
const rejectsReported = 6

func (b *BoxEvents) onDelivery(info telegraf.DeliveryInfo) {
	moved, rewound := b.tracker.delivered(info.ID(), info.Delivered())
	if rewound {
		b.stats.pagesRewound.Incr(1)
		pos := b.tracker.committedPosition()
		wait, rejects := b.tracker.rewindWait()
		logf := b.Log.Debugf
		if rejects == 1 {
			logf = b.Log.Warnf // once until the next commit
		}
		logf("An output did not accept a page of Box events (its buffer overflowed, or it refused the events); reading the %s stream again "+
			"from position %s in %s (rejection %d since the last commit)", b.cfg.stream, pos, wait.Round(time.Millisecond), rejects)
		if rejects == rejectsReported {
			b.Log.Warnf("The outputs did not accept the page at position %s of the %s stream %d times in a row: nothing after it is written "+
				"before they do. If an output refuses some of its events for good (outputs.influxdb_v2 drops a batch InfluxDB answers "+
				"400 or 422, e.g. for events older than the bucket's retention or a field of another type), see the output's errors: "+
				"the page is now read in smaller parts, each written alone, and an event refused alone %d times while the events "+
				"after it are accepted is skipped and reported as an error; during an outage nothing is skipped",
				pos, b.cfg.stream, rejects, skipAfter)
		}
	}
	for _, ev := range b.tracker.takeSkipped() {
		b.stats.eventsRefused.Incr(1)
		b.acc.AddError(fmt.Errorf("the outputs refused event %s (event_type %s, created_at %s) of the %s stream for good: written alone it "+
			"was rejected %d times while the events after it were accepted, so it is skipped and not in the outputs; the stream goes on. "+
			"See the output's errors for why (outputs.influxdb_v2: InfluxDB's 400 or 422, e.g. older than the bucket's retention, a "+
			"field of another type); to recover it, read the stream from position %s (Box keeps it for its retention)",
			ev.id, ev.eventType, ev.createdAt, b.cfg.stream, skipAfter, ev.at))
	}
	if moved {
		b.saveState()
	}
}

// saveState records a commit in state_file, when configured: now, or within
// stateWriteEvery (see flushState). Once stopped it writes at once.
func (b *BoxEvents) saveState() {
	if b.statePath == nil {
		return
	}
	if err := b.statePath.save(b.state, b.clock.Now(), b.stopped.Load()); err != nil {
		b.acc.AddError(err)
	}
}

// flushState writes a commit that saveState left for later.
func (b *BoxEvents) flushState() {
	if b.statePath == nil {
		return
	}
	if err := b.statePath.flush(b.state, b.clock.Now()); err != nil {
		b.acc.AddError(err)
	}
}

func init() {
	inputs.Add("box_events", func() telegraf.Input {
		return &BoxEvents{
			BaseURL:                 defaultBaseURL,
			StreamType:              string(boxevents.StreamAll),
			StartPosition:           "now",
			PageSize:                defaultPageSize,
			Timeout:                 config.Duration(defaultTimeout),
			Auth:                    authClientCredentials,
			UserTag:                 userTagLogin,
			SubjectType:             "enterprise",
			JWTAlgorithm:            "RS256",
			OnInvalidPosition:       onInvalidFail,
			InvalidPositionLookback: config.Duration(24 * time.Hour),
			backfillSettle:          defaultBackfillSettle,
			positionRefresh:         defaultPositionRefresh,
			DedupWindow:             defaultDedupWindow,
			MaxUndeliveredPages:     defaultMaxUndeliveredPages,
			StatsInterval:           config.Duration(defaultStatsInterval),
		}
	})
}
