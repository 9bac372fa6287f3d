package box_events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxauth"
	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

// The error policy of the plugin lives here: how long to wait after a failed
// round, and what the user hears about it.
const (
	backoffMax = 5 * time.Minute
	// authBackoff is the wait after Box refused the credentials, or refused a
	// freshly fetched token: retrying sooner cannot help and only fills the
	// logs (box-node-sdk #16).
	authBackoff = 5 * time.Minute
	// stillFailingEvery spaces the reminders of a failure streak that goes on.
	stillFailingEvery = time.Hour
)

// step does one round of reading a stream and returns how long to wait before
// the next round.
type step func(ctx context.Context) (time.Duration, error)

// run calls next until ctx ends. Failures are retried with capped
// exponential backoff (longer when Box refused the credentials, and never
// shorter than a Retry-After Box sent); the stream never stops on its own.
func (r *reader) run(ctx context.Context, next step) {
	var (
		streak failureStreak
		// restarted is set from an on_invalid_position restart to the next
		// round that works: a rejection of the position restarted from
		// (Box refusing every position of the stream) is a failure like
		// any other, retried with backoff, not another restart at once.
		restarted bool
	)
	for {
		wait, err := next(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !restarted && boxevents.IsPositionRejected(err) && r.cfg.onInvalid != onInvalidFail:
			pos, _ := r.tracker.position()
			from := r.restart()
			r.acc.AddError(fmt.Errorf("box rejected position %s of the %s stream: %w; restarting from %s (on_invalid_position = %q)",
				pos, r.cfg.stream, err, from, r.cfg.onInvalid))
			streak = failureStreak{}
			restarted = true
			wait = 0
		case err != nil:
			wait = streak.failed(r, err)
		default:
			restarted = false
			streak.succeeded(r)
		}
		if wait > 0 && !sleep(ctx, r.clock, wait) {
			return
		}
	}
}

// failureStreak is a run of failed rounds. Its first failure is reported
// through the accumulator (Telegraf counts and logs it); the ones that follow
// are logged at debug level, with a reminder every hour; its end is logged
// once. A stream that fails for hours thus reports one error, not hundreds.
type failureStreak struct {
	n        int
	since    time.Time
	reminded time.Time
}

// failed records a failure and returns how long to wait before retrying.
func (f *failureStreak) failed(r *reader, err error) time.Duration {
	now := r.clock.Now()
	f.n++
	wait := retryDelay(err, f.n)
	switch {
	case f.n == 1:
		f.since, f.reminded = now, now
		r.acc.AddError(fmt.Errorf("reading the %s stream: %w%s (retrying in %s)", r.cfg.stream, err, r.remedy(err), wait.Round(time.Second)))
	case now.Sub(f.reminded) >= stillFailingEvery:
		f.reminded = now
		r.log.Warnf("Reading the %s stream still fails after %d attempts in %s: %v%s (retrying in %s)",
			r.cfg.stream, f.n, now.Sub(f.since).Round(time.Second), err, r.remedy(err), wait.Round(time.Second))
	default:
		r.log.Debugf("Reading the %s stream failed again (%d in a row): %v (retrying in %s)",
			r.cfg.stream, f.n, err, wait.Round(time.Second))
	}
	return wait
}

// remedy returns what an operator can do about err, to follow it in a report; "" when the
// error says enough. A 403 on an enterprise stream is the most common setup mistake (the app
// scope, or an account without the right to read the enterprise's events), and Box's own
// message is only "Forbidden".
func (r *reader) remedy(err error) string {
	if r.cfg.stream.Enterprise() && boxevents.IsForbidden(err) {
		return "; enterprise streams need the app scope Manage enterprise properties (authorize the app again " +
			"after changing its scopes) and the service account, an admin, or a co-admin allowed to run reports (docs/AUTH.md)"
	}
	return ""
}

// succeeded ends a streak, saying so once.
func (f *failureStreak) succeeded(r *reader) {
	if f.n == 0 {
		return
	}
	r.log.Infof("Reading the %s stream recovered after %d %s in %s",
		r.cfg.stream, f.n, plural(f.n, "failure"), r.clock.Since(f.since).Round(time.Second))
	*f = failureStreak{}
}

// doubling returns a second doubled for each attempt in a row after the
// first (n ≥ 1), at most limit: the one shape of every backoff the plugin
// keeps (failures, rejected pages, fruitless drains, hasty long polls). It
// never overflows, whatever n.
func doubling(n int, limit time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// retryDelay is the wait after the n-th failure in a row.
func retryDelay(err error, n int) time.Duration {
	var d time.Duration
	if authRefused(err) {
		d = authBackoff
	} else {
		d = doubling(n, backoffMax)
		// Full jitter in [d/2, d): instances that failed together spread out.
		d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) //nolint:gosec // jitter needs no crypto
	}
	// Box may ask for a longer pause than any backoff (Retry-After), its API
	// or its token endpoint: honour it.
	return max(d, boxevents.RetryAfter(err), boxauth.RetryAfter(err))
}

// authRefused reports whether Box refused the credentials, or refused with
// 401 a token it had just issued: only an operator can fix either.
func authRefused(err error) bool {
	if errors.Is(err, boxauth.ErrRefused) {
		return true
	}
	// The client refreshes the token once on a 401; an AuthError holding a
	// 401 is one that persisted after that.
	var apiErr *boxevents.APIError
	return boxevents.IsAuth(err) && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
