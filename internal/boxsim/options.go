package boxsim

import (
	"crypto/rsa"
	"time"

	"github.com/benbjohnson/clock"
)

// Credentials a Server built with zero Options accepts. Tests pass them to the client.
const (
	DefaultClientID     = "boxsim0client0id0k2zq8x0v3m5n7b9"
	DefaultClientSecret = "boxsimSecretJ8c2Vw6Qy1Nz5Tb9Xr3L" //nolint:gosec // the simulator's fake app secret
	DefaultEnterpriseID = "1234567"
	DefaultUserID       = "11446498"
)

// Defaults applied by New to zero-valued Options fields.
const (
	// DefaultTokenTTL is the lifetime of issued access tokens; Box answers expires_in ≈ 3600.
	DefaultTokenTTL = time.Hour
	// DefaultRetryTimeout is the realtime server's retry_timeout in seconds.
	DefaultRetryTimeout = 610
	// DefaultMaxRetries is the realtime server's max_retries.
	DefaultMaxRetries = 10
	// DefaultTTL is the realtime server's ttl in minutes.
	DefaultTTL = 10
	// DefaultMaxEvents is how many events each log retains before trimming the oldest.
	DefaultMaxEvents = 10000
	// DefaultMaxProducedIDs bounds the per-stream record kept for ProducedIDs.
	DefaultMaxProducedIDs = 100_000
	// DefaultEmployees is the size of the simulated enterprise (see Directory).
	DefaultEmployees = 40
	// MaxEmployees bounds Options.Employees.
	MaxEmployees = 500
)

// DefaultEnterpriseDomains returns the enterprise's login domains used unless
// Options.EnterpriseDomains names others.
func DefaultEnterpriseDomains() []string { return []string{"example.com", "example.co.uk"} }

// PositionBase is the stream position of an empty log. Each event moves its log forward
// by a random step of 1..255, so positions stay above 2^53 and a client that decodes them
// through float64 (whose spacing there is 256) re-reads or skips events.
const PositionBase uint64 = 1152922976252290886

// PositionFormat selects how next_stream_position is written on the wire.
type PositionFormat string

// Position formats. Box documents string | int64 and sends both in practice.
const (
	PositionString PositionFormat = "string" // "1152922976252290886" (the default)
	PositionNumber PositionFormat = "number" // 1152922976252290886, a bare JSON number
	PositionMixed  PositionFormat = "mixed"  // alternates string and number per response
)

// Stream is a value of the stream_type query parameter.
type Stream string

// Stream types served by GET /2.0/events.
const (
	StreamAll                Stream = "all"
	StreamChanges            Stream = "changes"
	StreamSync               Stream = "sync"
	StreamAdminLogs          Stream = "admin_logs"
	StreamAdminLogsStreaming Stream = "admin_logs_streaming"
)

// Enterprise reports whether s is an enterprise stream, which needs an enterprise token.
func (s Stream) Enterprise() bool {
	return s == StreamAdminLogs || s == StreamAdminLogsStreaming
}

func (s Stream) valid() bool {
	switch s {
	case StreamAll, StreamChanges, StreamSync, StreamAdminLogs, StreamAdminLogsStreaming:
		return true
	}
	return false
}

// Options configures a Server. The zero value is a strict, realistic Box.
type Options struct {
	// Clock drives token expiry, long-poll timeouts, created_at and the generator.
	// Nil means the real clock.
	Clock clock.Clock
	// Seed makes event ids, positions, shapes and random faults reproducible.
	Seed uint64

	// ClientID and ClientSecret identify the app (defaults DefaultClientID, DefaultClientSecret).
	ClientID     string
	ClientSecret string
	// EnterpriseID is the valid enterprise subject (default DefaultEnterpriseID).
	EnterpriseID string
	// UserID is the valid user subject for CCG, JWT, refresh and developer tokens
	// (default DefaultUserID).
	UserID string
	// UserIsAdmin lets tokens for UserID read enterprise streams and send As-User,
	// like an admin's token. Otherwise only enterprise-subject tokens may.
	UserIsAdmin bool
	// TokenTTL is the lifetime of issued access tokens on the clock (default 1h).
	TokenTTL time.Duration
	// DeveloperTokens are accepted as bearer tokens for UserID until ExpireTokens or
	// RevokeTokens.
	DeveloperTokens []string
	// RefreshTokens are the initially valid OAuth 2.0 refresh tokens (see AddRefreshToken).
	RefreshTokens []string
	// JWTPublicKeys maps a JWT "kid" (the app's publicKeyID) to its public key.
	JWTPublicKeys map[string]*rsa.PublicKey
	// NoAuth lets /2.0/events and OPTIONS accept requests without a valid token
	// (authentication is required by default). The realtime server's own check is
	// RealtimeRequiresAuth.
	NoAuth bool

	// PositionFormat selects the JSON type of next_stream_position (default string).
	PositionFormat PositionFormat
	// ShortPages makes some pages shorter than limit although more events remain.
	ShortPages bool
	// EmptyPageZeroPosition makes an empty admin_logs page answer next_stream_position 0,
	// Box's old behaviour (box-windows-sdk-v2#371).
	EmptyPageZeroPosition bool
	// AdminLogsDelay, when positive, makes admin_logs show an enterprise event only once
	// it has been in Box that long on the clock, as Box buffers admin_logs for about a
	// minute ("events can arrive later than your filtering window", for-enterprise.md;
	// box-node-sdk docs/events.md), while admin_logs_streaming shows it at once. The
	// event keeps the position it was given when added (AddEnterpriseEvent returns
	// it), but until it is due admin_logs answers as if the log ended before it: pages
	// stop short of it, "now" and HeadPosition answer the position before it, Events
	// leaves it out. Backlogs (EmitBacklog) are not delayed, but are served in order,
	// after any event still held. Zero means no delay.
	AdminLogsDelay time.Duration
	// StreamingDuplicateRate is the probability that an admin_logs_streaming event is
	// sent again at a later position.
	StreamingDuplicateRate float64
	// StreamingDisorder makes admin_logs_streaming deliver events out of created_at order.
	StreamingDisorder bool
	// UserDuplicateRate is the probability that a user event is sent again at the next
	// position ("the API often returns the same events at multiple subsequent stream
	// positions", box-node-sdk).
	UserDuplicateRate float64
	// MaxEvents is how many events each log retains (default DefaultMaxEvents).
	// Older events are trimmed; a position before them reads from the oldest retained
	// unless RejectExpiredPositions.
	MaxEvents int
	// Retention, when positive, also trims events by age, as Box keeps user events for
	// 21 to 31 days and admin_logs_streaming for 14 (stream-types.md). An event whose
	// created time (its created_at, or the clock's time when it was added without a
	// parseable one) is more than Retention before the clock's now is trimmed, lazily,
	// on the next append or read. Each log stays a contiguous window: it is trimmed from
	// its oldest position while the oldest retained event is too old, so in
	// admin_logs_streaming with StreamingDisorder an old event can outlive Retention
	// behind a newer one. Zero means no time-based trimming.
	Retention time.Duration
	// StreamRetention overrides Retention for the log of a stream: admin_logs,
	// admin_logs_streaming, or the user log (all, changes and sync are views of one
	// log, which keeps the longest given for them). Box keeps admin_logs 365 days,
	// admin_logs_streaming 14 and user events 21 to 31 (stream-types.md): with one
	// Retention for all logs, a test could not keep a year of admin_logs and two
	// weeks of admin_logs_streaming at once, and so never see why a stream begun
	// further back than two weeks must be read from admin_logs. Zero means Retention.
	StreamRetention map[Stream]time.Duration
	// RejectExpiredPositions answers GET /2.0/events with a numeric stream_position
	// from before the log's retained window (below the position of the newest event
	// trimmed from that log, see TrimmedThrough) with Box's 400 bad_request "Invalid
	// stream position" (see FaultInvalidPosition), as elastic/integrations#18413
	// observed. Otherwise (the default) such a position silently reads from the oldest
	// retained event. Positions 0 and now are never rejected.
	RejectExpiredPositions bool
	// MaxProducedIDs bounds each stream's ProducedIDs record (default DefaultMaxProducedIDs).
	MaxProducedIDs int

	// EnterpriseDomains are the login domains of the enterprise's users (default
	// DefaultEnterpriseDomains()): a login outside them is external. Employees get logins
	// in them, most in the first; see Directory. EmitTraffic and InjectScenario use the
	// directory; EmitUser, EmitEnterprise and EmitBacklog keep their own fixed pool.
	EnterpriseDomains []string
	// Employees is the number of the enterprise's users in the Directory (default
	// DefaultEmployees, at least 8, at most MaxEmployees).
	Employees int

	// RetryTimeout is the realtime retry_timeout in seconds (default 610): how long a
	// long-poll is held before it answers reconnect.
	RetryTimeout int
	// MaxRetries is the realtime max_retries (default 10): the number of long-polls a
	// channel answers before it answers max_retries.
	MaxRetries int
	// TTL is the realtime ttl in minutes (default 10): a channel's lifetime.
	TTL int
	// RealtimeFieldsAsNumbers writes ttl and max_retries as JSON numbers instead of strings.
	RealtimeFieldsAsNumbers bool
	// RealtimeURLBase, when set, is the scheme://host[:port] (no path) of the realtime
	// URLs OPTIONS /2.0/events hands out, e.g. "http://2.realtime.services.box.net:8443",
	// whatever the simulator listens on; a test resolves that name to one of its
	// listeners with its own dialer. The realtime base is, in order of precedence:
	// RealtimeURLBase, the URL returned by StartRealtime, the API's own base URL. New
	// panics when it is not an absolute http or https URL without path, query or user.
	RealtimeURLBase string
	// RealtimeRequiresAuth makes the realtime endpoint (GET /subscribe) answer 401 with
	// Box's WWW-Authenticate challenge to polls without a valid bearer token, NoAuth or
	// not. By default the channel id alone identifies the subscription.
	RealtimeRequiresAuth bool
	// RealtimeIgnoresStreamType makes every realtime channel watch stream "all",
	// whatever stream_type OPTIONS was asked for (its URL still names the stream asked
	// for): the long poll then announces new_change for events a changes or sync
	// stream does not show, as a realtime server may.
	RealtimeIgnoresStreamType bool
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.EnterpriseID == "" {
		o.EnterpriseID = DefaultEnterpriseID
	}
	if o.UserID == "" {
		o.UserID = DefaultUserID
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.PositionFormat == "" {
		o.PositionFormat = PositionString
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxProducedIDs <= 0 {
		o.MaxProducedIDs = DefaultMaxProducedIDs
	}
	if len(o.EnterpriseDomains) == 0 {
		o.EnterpriseDomains = DefaultEnterpriseDomains()
	} else {
		o.EnterpriseDomains = append([]string(nil), o.EnterpriseDomains...) // ours from now on
	}
	switch {
	case o.Employees <= 0:
		o.Employees = DefaultEmployees
	case o.Employees < 8:
		o.Employees = 8
	case o.Employees > MaxEmployees:
		o.Employees = MaxEmployees
	}
	if o.RetryTimeout <= 0 {
		o.RetryTimeout = DefaultRetryTimeout
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	return o
}
