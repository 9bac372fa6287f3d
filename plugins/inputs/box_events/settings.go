package box_events

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// maxHeldEvents bounds dedup_window and page_size * max_undelivered_pages: the events whose
// keys, places and delivery notices the plugin holds in memory (tens of MB for a million).
// A few digits too many in either would have Init allocate gigabytes, or overflow.
const maxHeldEvents = 1_000_000

// eventTypePattern is what Box's event types look like (LOGIN, ITEM_UPLOAD,
// SIGN_DOCUMENT_VIEWED_BY_SIGNED ...).
var eventTypePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// settings are the options in the form the plugin works with: checked,
// normalised and derived once by Init. They never change afterwards; what
// changes while the stream is read lives in the reader.
type settings struct {
	baseURL    string // without a trailing slash
	stream     boxevents.StreamType
	start      boxevents.StreamPosition // "now", "0" or a position
	startTime  time.Time                // start_position given as a time
	eventTypes []string                 // upper case, sorted, without repeats
	typeFilter map[string]bool          // user streams: Box ignores event_type there, so the plugin filters
	after      time.Time                // admin_logs created_after (or the start time)
	before     time.Time                // admin_logs created_before
	interval   time.Duration            // poll_interval, or the stream type's default
	pageSize   int
	onInvalid  string
	lookback   time.Duration
	// commitDelay is how long a page stays delivered before its position is
	// committed (see commit_delay).
	commitDelay time.Duration
	// backfillSettle is how long after a backfill began admin_logs is read a
	// last time before the handover: Box shows admin_logs events late.
	backfillSettle time.Duration
	// positionRefresh is how often a user stream that showed nothing is read
	// all the same (see defaultPositionRefresh).
	positionRefresh time.Duration
	// userTag and domains shape metrics only (user_tag, enterprise_domains):
	// they are not part of the state identity.
	userTag string
	domains []string
}

// newSettings checks the options and derives the settings from them. Errors
// name the option and what it accepts.
func newSettings(b *BoxEvents) (*settings, error) {
	s := &settings{pageSize: b.PageSize, backfillSettle: b.backfillSettle, positionRefresh: b.positionRefresh}
	var err error
	if s.baseURL, err = checkBaseURL(b.BaseURL); err != nil {
		return nil, err
	}
	if s.stream, err = boxevents.ParseStreamType(b.StreamType); err != nil {
		return nil, fmt.Errorf("invalid stream_type %q: want all, changes, sync, admin_logs or admin_logs_streaming", b.StreamType)
	}

	switch strings.ToLower(strings.TrimSpace(b.StartPosition)) {
	case "now", "":
		s.start = boxevents.PositionNow
	case "0", "beginning":
		s.start = "0"
	default:
		if t, err := time.Parse(time.RFC3339, b.StartPosition); err == nil {
			s.start, s.startTime = "0", t
			break
		}
		if !boxevents.StreamPosition(b.StartPosition).Resumable() {
			return nil, fmt.Errorf("invalid start_position %q: want \"now\", \"beginning\", a stream position (digits) or an RFC 3339 time", b.StartPosition)
		}
		s.start = boxevents.StreamPosition(b.StartPosition)
	}

	if b.PageSize < 1 || b.PageSize > boxevents.MaxLimit {
		return nil, fmt.Errorf("invalid page_size %d: want 1 to %d", b.PageSize, boxevents.MaxLimit)
	}
	if b.Timeout <= 0 {
		return nil, fmt.Errorf("invalid timeout %s: must be positive", time.Duration(b.Timeout))
	}
	if b.DedupWindow < 1 || b.DedupWindow > maxHeldEvents {
		return nil, fmt.Errorf("invalid dedup_window %d: must be at least 1 and at most %d", b.DedupWindow, maxHeldEvents)
	}
	if b.MaxUndeliveredPages < 1 {
		return nil, fmt.Errorf("invalid max_undelivered_pages %d: must be at least 1", b.MaxUndeliveredPages)
	}
	if b.MaxUndeliveredPages > maxHeldEvents/b.PageSize {
		return nil, fmt.Errorf("invalid max_undelivered_pages %d: page_size * max_undelivered_pages is at most %d events",
			b.MaxUndeliveredPages, maxHeldEvents)
	}

	if s.eventTypes, err = normaliseEventTypes(b.EventTypes); err != nil {
		return nil, err
	}
	if s.userTag, s.domains, err = metricOptions(b.UserTag, b.EnterpriseDomains); err != nil {
		return nil, err
	}
	if !s.stream.Enterprise() && len(s.eventTypes) > 0 {
		s.typeFilter = make(map[string]bool, len(s.eventTypes))
		for _, t := range s.eventTypes {
			s.typeFilter[t] = true
		}
	}

	if b.CommitDelay < 0 {
		return nil, fmt.Errorf("invalid commit_delay %s: must not be negative", time.Duration(b.CommitDelay))
	}
	s.commitDelay = time.Duration(b.CommitDelay)
	switch s.onInvalid = strings.ToLower(b.OnInvalidPosition); s.onInvalid {
	case "":
		s.onInvalid = onInvalidFail
	case onInvalidFail, onInvalidNow, onInvalidBeginning:
	case onInvalidLookback:
		if b.InvalidPositionLookback <= 0 {
			return nil, errors.New(`on_invalid_position "lookback" needs a positive invalid_position_lookback`)
		}
		s.lookback = time.Duration(b.InvalidPositionLookback)
	default:
		return nil, fmt.Errorf("invalid on_invalid_position %q: want %q, %q, %q or %q",
			b.OnInvalidPosition, onInvalidFail, onInvalidNow, onInvalidBeginning, onInvalidLookback)
	}

	if b.CreatedAfter != "" || b.CreatedBefore != "" {
		if s.stream != boxevents.StreamAdminLogs {
			return nil, errors.New("created_after and created_before are only supported with stream_type \"admin_logs\"")
		}
		if s.after, err = parseTime("created_after", b.CreatedAfter); err != nil {
			return nil, err
		}
		if s.before, err = parseTime("created_before", b.CreatedBefore); err != nil {
			return nil, err
		}
		if !s.after.IsZero() && !s.before.IsZero() && !s.after.Before(s.before) {
			return nil, fmt.Errorf("created_after %q must be before created_before %q", b.CreatedAfter, b.CreatedBefore)
		}
		if !s.startTime.IsZero() {
			return nil, errors.New("start_position as a time and created_after are the same thing: set only one")
		}
	}
	if !s.startTime.IsZero() && s.stream == boxevents.StreamAdminLogs {
		s.after = s.startTime
	}

	s.interval = time.Duration(b.PollInterval)
	switch {
	case s.interval < 0:
		return nil, fmt.Errorf("invalid poll_interval %s: must not be negative", s.interval)
	case s.interval > 0 && s.interval < time.Second:
		return nil, fmt.Errorf("invalid poll_interval %s: Box allows about 1000 requests a minute, use at least 1s", s.interval)
	case s.interval == 0 && s.stream == boxevents.StreamAdminLogs:
		s.interval = defaultAdminLogsInterval
	case s.interval == 0:
		s.interval = defaultStreamingInterval
	}
	return s, nil
}

// checkBaseURL accepts an https URL, or plain http to a loopback address only
// (a simulated or local test server): over plain http to any other host the
// access token would cross the network in clear text.
func checkBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid base_url %q: want an https URL such as %q", raw, defaultBaseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("invalid base_url %q: plain http would send Box credentials in clear text; "+
			"use https (http is accepted only for a loopback address)", raw)
	}
	// Box documents its API's base URL as https://api.box.com/2.0: given
	// here, every request would go to /2.0/2.0/events and /2.0/oauth2/token
	// and fail with 404 at run time.
	if path := strings.TrimRight(u.Path, "/"); strings.HasSuffix(path, "/2.0") || strings.Contains(path, "/2.0/") {
		return "", fmt.Errorf("invalid base_url %q: give the API root without \"/2.0\", such as %q "+
			"(the plugin adds /2.0/events and /oauth2/token)", raw, defaultBaseURL)
	}
	return strings.TrimRight(raw, "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// normaliseEventTypes upper-cases, sorts and de-duplicates event_types, so
// that two spellings of one filter read (and save state as) the same stream.
func normaliseEventTypes(types []string) ([]string, error) {
	out := make([]string, 0, len(types))
	for _, t := range types {
		n := strings.ToUpper(strings.TrimSpace(t))
		if !eventTypePattern.MatchString(n) {
			return nil, fmt.Errorf("invalid entry %q in event_types: want one Box event type per entry, e.g. \"LOGIN\"", t)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// domainPattern is a DNS name: labels of letters, digits and hyphens.
var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// metricOptions checks user_tag and enterprise_domains; domains come back in
// lower case without repeats.
func metricOptions(userTag string, domains []string) (string, []string, error) {
	switch tag := strings.ToLower(strings.TrimSpace(userTag)); tag {
	case "":
		userTag = userTagLogin
	case userTagLogin, userTagID, userTagNone:
		userTag = tag
	default:
		return "", nil, fmt.Errorf("invalid user_tag %q: want %q, %q or %q", userTag, userTagLogin, userTagID, userTagNone)
	}
	var out []string
	for _, d := range domains {
		n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if len(n) > 253 || !domainPattern.MatchString(n) {
			return "", nil, fmt.Errorf("invalid entry %q in enterprise_domains: want a domain such as \"example.com\" "+
				"(no @, scheme or wildcard; subdomains are included)", d)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return userTag, out, nil
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

// startText is the start position in the normalised form the state identity
// uses.
func (s *settings) startText() string {
	if !s.startTime.IsZero() {
		return s.startTime.UTC().Format(time.RFC3339)
	}
	return string(s.start)
}
