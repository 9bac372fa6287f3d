package boxauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// authenticator is boxevents.Authenticator, restated: boxauth must not import boxevents.
type authenticator interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

var (
	_ authenticator = (*Source)(nil)
	_ authenticator = (*StaticSource)(nil)
)

// countingFetch hands out tok-1, tok-2, ... valid for life; err, if set, fails the fetch.
type countingFetch struct {
	n    atomic.Int32
	life time.Duration
	mu   sync.Mutex
	err  error
}

func (f *countingFetch) fetch(context.Context) (*oauth2.Token, error) {
	n := f.n.Add(1)
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("tok-%d", n), ExpiresIn: int64(f.life / time.Second)}, nil
}

func (f *countingFetch) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func TestSource_CachesUntilRefreshAhead(t *testing.T) {
	ctx := ctxT(t)
	mock := clock.NewMock()
	f := &countingFetch{life: time.Hour}
	s := NewSource(f.fetch, mock)

	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)

	// Until 54 min (10% of 60 min ahead of expiry) the cached token is served.
	mock.Add(54*time.Minute - time.Second)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.EqualValues(t, 1, f.n.Load())

	// In the refresh window the old token is still served while one replacement is fetched.
	mock.Add(2 * time.Second)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Eventually(t, func() bool {
		tok, err := s.Token(ctx)
		return err == nil && tok == "tok-2"
	}, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 2, f.n.Load())
}

func TestSource_RefreshAheadFailureKeepsTokenUntilExpiry(t *testing.T) {
	ctx := ctxT(t)
	mock := clock.NewMock()
	f := &countingFetch{life: time.Hour}
	s := NewSource(f.fetch, mock)
	_, err := s.Token(ctx)
	require.NoError(t, err)

	f.setErr(errors.New("endpoint down"))
	mock.Add(55 * time.Minute)
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Eventually(t, func() bool { return f.n.Load() == 2 && s.idle() }, 5*time.Second, time.Millisecond)

	// Within aheadRetryInterval of the failure: no new attempt.
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.EqualValues(t, 2, f.n.Load())

	// After it: one more background attempt, token still served.
	mock.Add(aheadRetryInterval)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Eventually(t, func() bool { return f.n.Load() == 3 && s.idle() }, 5*time.Second, time.Millisecond)

	// 30 s before expiry the token is no longer handed out: the error surfaces.
	mock.Add(4*time.Minute + time.Second)
	_, err = s.Token(ctx)
	require.ErrorContains(t, err, "endpoint down")
}

// A refresh ahead that the token endpoint answered 429 with a Retry-After
// longer than aheadRetryInterval was retried after aheadRetryInterval.
func TestSource_RefreshAheadHonoursRetryAfter(t *testing.T) {
	ctx := ctxT(t)
	mock := clock.NewMock()
	f := &countingFetch{life: time.Hour}
	s := NewSource(f.fetch, mock)
	_, err := s.Token(ctx)
	require.NoError(t, err)

	f.setErr(&TokenError{StatusCode: 429, RetryAfter: 2 * time.Minute})
	mock.Add(55 * time.Minute)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.n.Load() == 2 && s.idle() }, 5*time.Second, time.Millisecond)

	// aheadRetryInterval has passed, Retry-After has not: no new attempt.
	mock.Add(2*time.Minute - time.Second)
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Eventually(t, s.idle, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 2, f.n.Load(), "asked again before Retry-After")

	mock.Add(time.Second)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Eventually(t, func() bool { return f.n.Load() == 3 && s.idle() }, 5*time.Second, time.Millisecond)
}

// idle reports whether no fetch is in flight (test helper).
func (s *Source) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.call == nil
}

func TestSource_ConcurrentCallersShareOneFetch(t *testing.T) {
	ctx := ctxT(t)
	started, release := make(chan struct{}), make(chan struct{})
	var fetches atomic.Int32
	s := NewSource(func(context.Context) (*oauth2.Token, error) {
		if fetches.Add(1) == 1 {
			close(started)
		}
		<-release
		return &oauth2.Token{AccessToken: "shared", ExpiresIn: 3600}, nil
	}, clock.NewMock())

	const callers = 32
	results := make(chan string, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.Token(ctx)
			if err != nil {
				tok = err.Error()
			}
			results <- tok
		}()
	}
	<-started
	close(release)
	wg.Wait()
	close(results)
	for tok := range results {
		require.Equal(t, "shared", tok)
	}
	require.EqualValues(t, 1, fetches.Load())
}

func TestSource_CallerContextCancelledFetchCompletes(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var fetches atomic.Int32
	s := NewSource(func(ctx context.Context) (*oauth2.Token, error) {
		fetches.Add(1)
		close(started)
		<-release
		return &oauth2.Token{AccessToken: "late", ExpiresIn: 3600}, ctx.Err()
	}, clock.NewMock())

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Token(ctx)
		errc <- err
	}()
	<-started
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	// The fetch was not cancelled with the caller; its token is cached.
	close(release)
	require.Eventually(t, s.idle, 5*time.Second, time.Millisecond)
	tok, err := s.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "late", tok)
	require.EqualValues(t, 1, fetches.Load())

	// A caller whose context is already done gets its error, no fetch.
	s.Invalidate("late")
	_, err = s.Token(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 1, fetches.Load())
}

func TestSource_FetchTimeoutOnClock(t *testing.T) {
	mock := clock.NewMock()
	started := make(chan struct{})
	s := NewSource(func(ctx context.Context) (*oauth2.Token, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, mock)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Token(ctxT(t))
		errc <- err
	}()
	<-started // the timeout timer is registered before the fetch starts
	mock.Add(defaultFetchTimeout)
	err := <-errc
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualError(t, err, "box token request failed: no response within 1m0s: context deadline exceeded")
}

func TestSource_Invalidate(t *testing.T) {
	ctx := ctxT(t)
	f := &countingFetch{life: time.Hour}
	s := NewSource(f.fetch, clock.NewMock())
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)

	s.Invalidate("some-other-token")
	s.Invalidate("")
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok, "invalidating another token keeps the cache")

	// Two 401s for the same token cause one refetch.
	s.Invalidate("tok-1")
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)
	s.Invalidate("tok-1")
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)
	require.EqualValues(t, 2, f.n.Load())
}

func TestSource_FetchErrors(t *testing.T) {
	tests := []struct {
		name    string
		tok     *oauth2.Token
		err     error
		refused bool
	}{
		{name: "nil token", refused: true},
		{name: "empty access token", tok: &oauth2.Token{ExpiresIn: 3600}, refused: true},
		{name: "transient", err: errors.New("boom")},
		{name: "refused", err: &TokenError{StatusCode: 400, Code: "invalid_grant"}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSource(func(context.Context) (*oauth2.Token, error) { return tt.tok, tt.err }, clock.NewMock())
			_, err := s.Token(ctxT(t))
			require.Error(t, err)
			require.Equal(t, tt.refused, errors.Is(err, ErrRefused))
		})
	}
}

func TestSchedule(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		life             time.Duration
		refresh, expires time.Duration // after start
	}{
		{time.Hour, 54 * time.Minute, time.Hour - 30*time.Second},
		{4123 * time.Second, 4123*time.Second - 412300*time.Millisecond, 4123*time.Second - 30*time.Second},
		{20 * time.Minute, 15 * time.Minute, 20*time.Minute - 30*time.Second},
		{2 * time.Minute, time.Minute, 2*time.Minute - 12*time.Second},
		{10 * time.Second, 5 * time.Second, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.life.String(), func(t *testing.T) {
			refreshAt, expireAt := schedule(start, tt.life)
			require.Equal(t, start.Add(tt.refresh), refreshAt)
			require.Equal(t, start.Add(tt.expires), expireAt)
		})
	}
}

func TestLifetime(t *testing.T) {
	mock := clock.NewMock()
	tests := []struct {
		name string
		tok  *oauth2.Token
		want time.Duration
	}{
		{"ExpiresIn", &oauth2.Token{ExpiresIn: 4123}, 4123 * time.Second},
		{"raw JSON number", (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": float64(3600)}), time.Hour},
		{"raw form string", (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": "600"}), 10 * time.Minute},
		{"Expiry on the clock", &oauth2.Token{Expiry: mock.Now().Add(time.Minute)}, time.Minute},
		{"nothing", &oauth2.Token{}, defaultLifetime},
		{"garbage", (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": "soon"}), defaultLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, lifetime(tt.tok, mock))
		})
	}
}

// closer is what a caller needs to stop any source alike.
type closer interface {
	Close(ctx context.Context) error
}

var (
	_ closer = (*Source)(nil)
	_ closer = (*StaticSource)(nil)
)

func TestSource_CloseWaitsForFetchInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var fetches atomic.Int32
	s := NewSource(func(context.Context) (*oauth2.Token, error) {
		fetches.Add(1)
		close(started)
		<-release
		return &oauth2.Token{AccessToken: "in-flight", ExpiresIn: 3600}, nil
	}, clock.NewMock())
	tokc := make(chan string, 1)
	go func() {
		tok, err := s.Token(ctxT(t))
		if err != nil {
			tok = err.Error()
		}
		tokc <- tok
	}()
	<-started

	// A context already done: Close returns at once, with its error.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Close(done)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "a token request is still in flight")

	// Closed: no token, not even from the fetch in flight.
	_, err = s.Token(ctxT(t))
	require.ErrorIs(t, err, ErrClosed)
	require.EqualError(t, err, "box token source is closed")

	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctxT(t)) }()
	select {
	case err := <-closed:
		require.Failf(t, "Close returned while a fetch was in flight", "error: %v", err)
	default:
	}
	close(release)
	require.NoError(t, <-closed)
	require.Equal(t, "in-flight", <-tokc, "a caller already waiting gets the fetch's result")

	require.NoError(t, s.Close(ctxT(t)), "Close is idempotent")
	_, err = s.Token(ctxT(t))
	require.ErrorIs(t, err, ErrClosed)
	require.EqualValues(t, 1, fetches.Load())
}

// A fetch that rotates nothing (client credentials, JWT) is cut short by Close: nothing would
// use its token, and it held a connection and a goroutine for up to its one-minute timeout.
func TestSource_CloseCancelsFetchInFlight(t *testing.T) {
	started := make(chan struct{})
	s := NewSource(func(ctx context.Context) (*oauth2.Token, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, clock.NewMock())
	go s.Token(ctxT(t)) //nolint:errcheck // closed below
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a failsafe
	defer cancel()
	require.NoError(t, s.Close(ctx), "the fetch ended once cancelled")
}

func TestSource_CloseWithCachedToken(t *testing.T) {
	ctx := ctxT(t)
	mock := clock.NewMock()
	f := &countingFetch{life: time.Hour}
	s := NewSource(f.fetch, mock)
	_, err := s.Token(ctx)
	require.NoError(t, err)

	require.NoError(t, s.Close(ctx), "nothing in flight: Close returns at once")
	mock.Add(55 * time.Minute) // in the refresh-ahead window
	_, err = s.Token(ctx)
	require.ErrorIs(t, err, ErrClosed, "the cached token is not handed out")
	s.Invalidate("tok-1")
	require.True(t, s.idle())
	require.EqualValues(t, 1, f.n.Load(), "no refresh after Close")
}
