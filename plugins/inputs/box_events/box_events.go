//go:generate ../../../tools/readme_config_includer/generator
package box_events

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/common/proxy"
	"github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/influxdata/telegraf/plugins/inputs"

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
	maxPageSize                = 500
	defaultBackfillSettle      = 2 * time.Minute

	onInvalidFail      = "fail"
	onInvalidNow       = "now"
	onInvalidBeginning = "beginning"
	onInvalidLookback  = "lookback"
)

var positionPattern = regexp.MustCompile(`^[0-9]{1,40}$`)

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

	Log telegraf.Logger `toml:"-"`

	tls.ClientConfig
	proxy.HTTPProxy

	clock     clock.Clock
	stream    boxevents.StreamType
	start     boxevents.StreamPosition
	startTime time.Time // start_position given as a time
	notBefore time.Time // events created earlier are skipped (start time, lookback)
	backfill  *backfill // reading admin_logs before handing over to admin_logs_streaming
	// backfillSettle is how long after the backfill began admin_logs is read
	// a last time before the handover: Box shows admin_logs events late.
	backfillSettle time.Duration
	after          time.Time
	before         time.Time
	typeFilter     map[string]bool // user streams: Box ignores event_type there, so filter here
	interval       time.Duration   // poll_interval, or the stream type's default
	client         *boxevents.Client
	tracker        *tracker
	fileState      bool       // the state came from state_file, which wins over the agent's
	phaseMu        sync.Mutex // guards notBefore and backfill, read by the delivery goroutine

	acc      telegraf.TrackingAccumulator
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stateMu  sync.Mutex // serialises state_file writes
	lastGet  time.Time  // when GET /events was last sent
	lastFull bool       // whether that page was full
}

func (*BoxEvents) SampleConfig() string {
	return sampleConfig
}

func (b *BoxEvents) Init() error {
	if b.clock == nil {
		b.clock = clock.New()
	}
	if err := b.checkOptions(); err != nil {
		return err
	}
	httpClient, err := b.httpClient()
	if err != nil {
		return err
	}
	auth, err := b.authenticator(httpClient)
	if err != nil {
		return err
	}
	b.client, err = boxevents.New(boxevents.Config{
		BaseURL:        b.BaseURL,
		HTTPClient:     httpClient,
		Auth:           auth,
		Clock:          b.clock,
		UserAgent:      userAgent,
		AsUser:         b.AsUser,
		RequestTimeout: time.Duration(b.Timeout),
	})
	if err != nil {
		return err
	}
	b.tracker = newTracker(b.clock, time.Duration(b.CommitDelay), b.MaxUndeliveredPages, b.DedupWindow)
	if b.StateFile != "" {
		st, ok, err := readStateFile(b.StateFile)
		if err != nil {
			return err
		}
		if ok {
			if err := b.restore(st); err != nil {
				return fmt.Errorf("state_file %q: %w", b.StateFile, err)
			}
			b.fileState = true
			b.Log.Infof("Resuming %s stream at position %s from state_file %q", b.stream, st.StreamPosition, b.StateFile)
		}
	}
	return nil
}

// checkOptions validates the configuration and fills in derived settings.
func (b *BoxEvents) checkOptions() error {
	u, err := url.Parse(b.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid base_url %q: want an http or https URL such as %q", b.BaseURL, defaultBaseURL)
	}
	b.BaseURL = strings.TrimRight(b.BaseURL, "/")

	if b.stream, err = boxevents.ParseStreamType(b.StreamType); err != nil {
		return fmt.Errorf("invalid stream_type %q: want all, changes, sync, admin_logs or admin_logs_streaming", b.StreamType)
	}

	switch b.StartPosition {
	case "now", "":
		b.start = boxevents.PositionNow
	case "0", "beginning":
		b.start = "0"
	default:
		if t, err := time.Parse(time.RFC3339, b.StartPosition); err == nil {
			b.start, b.startTime = "0", t
			break
		}
		if !positionPattern.MatchString(b.StartPosition) {
			return fmt.Errorf("invalid start_position %q: want \"now\", \"beginning\", a stream position (digits) or an RFC 3339 time", b.StartPosition)
		}
		b.start = boxevents.StreamPosition(b.StartPosition)
	}

	if b.PageSize < 1 || b.PageSize > maxPageSize {
		return fmt.Errorf("invalid page_size %d: want 1 to %d", b.PageSize, maxPageSize)
	}
	if b.Timeout <= 0 {
		return fmt.Errorf("invalid timeout %s: must be positive", time.Duration(b.Timeout))
	}
	if b.DedupWindow < 1 {
		return fmt.Errorf("invalid dedup_window %d: must be at least 1", b.DedupWindow)
	}
	if b.MaxUndeliveredPages < 1 {
		return fmt.Errorf("invalid max_undelivered_pages %d: must be at least 1", b.MaxUndeliveredPages)
	}

	for _, t := range b.EventTypes {
		if strings.TrimSpace(t) == "" || strings.Contains(t, ",") {
			return fmt.Errorf("invalid entry %q in event_types: want one event type per entry, e.g. \"LOGIN\"", t)
		}
	}
	if !b.stream.Enterprise() && len(b.EventTypes) > 0 {
		b.typeFilter = make(map[string]bool, len(b.EventTypes))
		for _, t := range b.EventTypes {
			b.typeFilter[t] = true
		}
	}

	if b.CommitDelay < 0 {
		return fmt.Errorf("invalid commit_delay %s: must not be negative", time.Duration(b.CommitDelay))
	}
	switch b.OnInvalidPosition {
	case "":
		b.OnInvalidPosition = onInvalidFail
	case onInvalidFail, onInvalidNow, onInvalidBeginning:
	case onInvalidLookback:
		if b.InvalidPositionLookback <= 0 {
			return errors.New(`on_invalid_position "lookback" needs a positive invalid_position_lookback`)
		}
	default:
		return fmt.Errorf("invalid on_invalid_position %q: want %q, %q, %q or %q",
			b.OnInvalidPosition, onInvalidFail, onInvalidNow, onInvalidBeginning, onInvalidLookback)
	}

	if b.CreatedAfter != "" || b.CreatedBefore != "" {
		if b.stream != boxevents.StreamAdminLogs {
			return errors.New("created_after and created_before are only supported with stream_type \"admin_logs\"")
		}
		if b.after, err = parseTime("created_after", b.CreatedAfter); err != nil {
			return err
		}
		if b.before, err = parseTime("created_before", b.CreatedBefore); err != nil {
			return err
		}
		if !b.after.IsZero() && !b.before.IsZero() && !b.after.Before(b.before) {
			return fmt.Errorf("created_after %q must be before created_before %q", b.CreatedAfter, b.CreatedBefore)
		}
		if !b.startTime.IsZero() {
			return errors.New("start_position as a time and created_after are the same thing: set only one")
		}
	}
	if !b.startTime.IsZero() {
		b.notBefore = b.startTime
		if b.stream == boxevents.StreamAdminLogs {
			b.after = b.startTime
		}
	}

	b.interval = time.Duration(b.PollInterval)
	switch {
	case b.interval < 0:
		return fmt.Errorf("invalid poll_interval %s: must not be negative", b.interval)
	case b.interval > 0 && b.interval < time.Second:
		return fmt.Errorf("invalid poll_interval %s: Box allows about 1000 requests a minute, use at least 1s", b.interval)
	case b.interval == 0 && b.stream == boxevents.StreamAdminLogs:
		b.interval = defaultAdminLogsInterval
	case b.interval == 0:
		b.interval = defaultStreamingInterval
	}
	return nil
}

func parseTime(option, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %q: want an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", option, value)
	}
	return t, nil
}

// httpClient builds the one HTTP client of the plugin, with the TLS and proxy
// options. It has no overall timeout: the client times each request itself,
// and long polls are held for up to Box's retry_timeout.
func (b *BoxEvents) httpClient() (*http.Client, error) {
	tlsConfig, err := b.ClientConfig.TLSConfig()
	if err != nil {
		return nil, err
	}
	proxyFunc, err := b.HTTPProxy.Proxy()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.Proxy = proxyFunc
	return &http.Client{Transport: transport}, nil
}

func (b *BoxEvents) Start(acc telegraf.Accumulator) error {
	b.acc = acc.WithTracking(b.MaxUndeliveredPages)
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		b.receiveDeliveries(ctx)
	}()
	go func() {
		defer b.wg.Done()
		if b.stream.Enterprise() {
			b.retryLoop(ctx, b.pollEnterprise)
		} else {
			b.retryLoop(ctx, newUserStream(b).step)
		}
	}()
	return nil
}

func (*BoxEvents) Gather(telegraf.Accumulator) error {
	return nil
}

func (b *BoxEvents) Stop() {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	if b.acc == nil {
		return
	}
	// Commit what was delivered, and under commit_delay only what has aged:
	// a page written to the pipe just before Telegraf died may never have
	// reached its outputs, so it is read again after the restart.
	b.applyPendingDeliveries()
	if b.tracker.commitAged() {
		b.saveState()
	}
}

// ID identifies the plugin's saved state. It is derived from what decides
// which events the stream holds (endpoint, stream type, subject, as-user),
// not from options such as poll_interval or tags, so that tuning those does
// not throw the saved position away.
func (b *BoxEvents) ID() string {
	h := sha256.New()
	subject := b.SubjectType + ":" + b.SubjectID
	if b.Auth == authJWT && b.SubjectID == "" {
		subject = b.SubjectType + ":" + b.JWTConfigFile
	}
	for _, part := range []string{"inputs.box_events", b.BaseURL, b.StreamType, b.Auth, subject, b.AsUser} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GetState returns the committed position. Telegraf stores the state after
// the outputs' last flush, which happens after Stop, so delivery notices that
// arrived since then are applied first.
func (b *BoxEvents) GetState() interface{} {
	if b.tracker == nil {
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
	if st.StreamPosition == "" {
		return nil
	}
	if err := b.restore(st); err != nil {
		return err
	}
	b.Log.Infof("Resuming %s stream at position %s", b.stream, st.StreamPosition)
	return nil
}

// restore loads saved state into the tracker.
func (b *BoxEvents) restore(st State) error {
	if st.StreamType != "" && st.StreamType != string(b.stream) {
		return fmt.Errorf("saved state is for stream_type %q, not %q", st.StreamType, b.stream)
	}
	if !positionPattern.MatchString(st.StreamPosition) {
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
		if err != nil || !positionPattern.MatchString(st.Backfill.HandoverPosition) {
			return fmt.Errorf("saved backfill %+v is not valid", *st.Backfill)
		}
		bf = &backfill{before: before, handover: boxevents.StreamPosition(st.Backfill.HandoverPosition)}
	}
	b.phaseMu.Lock()
	defer b.phaseMu.Unlock()
	b.notBefore, b.backfill = notBefore, bf
	b.tracker.restore(boxevents.StreamPosition(st.StreamPosition), st.RecentEventIDs)
	return nil
}

func (b *BoxEvents) state() State {
	b.phaseMu.Lock()
	defer b.phaseMu.Unlock()
	pos, ids := b.tracker.snapshot()
	st := State{StreamType: string(b.stream), StreamPosition: string(pos), RecentEventIDs: ids}
	if !b.notBefore.IsZero() {
		st.NotBefore = b.notBefore.UTC().Format(time.RFC3339Nano)
	}
	if bf := b.backfill; bf != nil {
		st.Backfill = &BackfillState{
			CreatedBefore:    bf.before.UTC().Format(time.RFC3339Nano),
			HandoverPosition: string(bf.handover),
		}
	}
	return st
}

// receiveDeliveries applies the outputs' delivery notices until ctx ends.
// Under commit_delay it also commits pages as they age.
func (b *BoxEvents) receiveDeliveries(ctx context.Context) {
	var aged <-chan time.Time
	if delay := time.Duration(b.CommitDelay); delay > 0 {
		ticker := b.clock.Ticker(min(delay/4+time.Millisecond, time.Second))
		defer ticker.Stop()
		aged = ticker.C
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

func (b *BoxEvents) onDelivery(info telegraf.DeliveryInfo) {
	moved, rewound := b.tracker.delivered(info.ID(), info.Delivered())
	if rewound {
		pos, _ := b.tracker.position()
		b.Log.Warnf("An output did not accept a page of Box events; reading the %s stream again from position %s", b.stream, pos)
	}
	if moved {
		b.saveState()
	}
}

// saveState writes state_file, when configured, after a commit.
func (b *BoxEvents) saveState() {
	if b.StateFile == "" {
		return
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if err := writeStateFile(b.StateFile, b.state()); err != nil {
		b.acc.AddError(err)
	}
}

func init() {
	inputs.Add("box_events", func() telegraf.Input {
		return &BoxEvents{
			BaseURL:             defaultBaseURL,
			StreamType:          string(boxevents.StreamAll),
			StartPosition:       "now",
			PageSize:            defaultPageSize,
			Timeout:             config.Duration(defaultTimeout),
			Auth:                authClientCredentials,
			SubjectType:         "enterprise",
			JWTAlgorithm:        "RS256",
			OnInvalidPosition:   onInvalidFail,
			backfillSettle:      defaultBackfillSettle,
			DedupWindow:         defaultDedupWindow,
			MaxUndeliveredPages: defaultMaxUndeliveredPages,
		}
	})
}
