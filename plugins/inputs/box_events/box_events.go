//go:generate ../../../tools/readme_config_includer/generator
package box_events

import (
	"context"
	_ "embed"
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

	StateFile           string `toml:"state_file"`
	DedupWindow         int    `toml:"dedup_window"`
	MaxUndeliveredPages int    `toml:"max_undelivered_pages"`

	Log telegraf.Logger `toml:"-"`

	tls.ClientConfig
	proxy.HTTPProxy

	clock        clock.Clock
	stream       boxevents.StreamType
	start        boxevents.StreamPosition
	after        time.Time
	before       time.Time
	typeFilter   map[string]bool // user streams: Box ignores event_type there, so filter here
	pollInterval time.Duration
	client       *boxevents.Client
	tracker      *tracker
	fileState    bool // the state came from state_file, which wins over the agent's

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
	b.tracker = newTracker(b.MaxUndeliveredPages, b.DedupWindow)
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
	case "0":
		b.start = "0"
	default:
		if !positionPattern.MatchString(b.StartPosition) {
			return fmt.Errorf("invalid start_position %q: want \"now\", \"0\" or a stream position (digits)", b.StartPosition)
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
	}

	b.pollInterval = time.Duration(b.PollInterval)
	switch {
	case b.pollInterval < 0:
		return fmt.Errorf("invalid poll_interval %s: must not be negative", b.pollInterval)
	case b.pollInterval > 0 && b.pollInterval < time.Second:
		return fmt.Errorf("invalid poll_interval %s: Box allows about 1000 requests a minute, use at least 1s", b.pollInterval)
	case b.pollInterval == 0 && b.stream == boxevents.StreamAdminLogs:
		b.pollInterval = defaultAdminLogsInterval
	case b.pollInterval == 0:
		b.pollInterval = defaultStreamingInterval
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
	if st.StreamPosition != "now" && !positionPattern.MatchString(st.StreamPosition) {
		return fmt.Errorf("saved stream_position %q is not a Box stream position", st.StreamPosition)
	}
	b.tracker.restore(boxevents.StreamPosition(st.StreamPosition), st.RecentEventIDs)
	return nil
}

func (b *BoxEvents) state() State {
	pos, ids := b.tracker.snapshot()
	return State{StreamType: string(b.stream), StreamPosition: string(pos), RecentEventIDs: ids}
}

// receiveDeliveries applies the outputs' delivery notices until ctx ends.
func (b *BoxEvents) receiveDeliveries(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case info := <-b.acc.Delivered():
			b.onDelivery(info)
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
			DedupWindow:         defaultDedupWindow,
			MaxUndeliveredPages: defaultMaxUndeliveredPages,
		}
	})
}
