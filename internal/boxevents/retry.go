package boxevents

import (
	"errors"
	"time"
)

// Retry policy, after Box's SDKs (box_sdk_gen networking/retries.py): Retry-After when the server
// sends one, else 2^n × 1 s × a random factor in [0.5, 1.5), capped. The jitter keeps many
// clients that failed together from retrying together.
const (
	backoffBase = time.Second
	backoffMax  = 60 * time.Second
	// maxRetryAfter is the longest Retry-After a request waits out itself. A longer one is
	// returned to the caller (APIError.RetryAfter says how long) rather than blocking the request.
	maxRetryAfter = 5 * time.Minute
)

// backoff returns the wait after the given failed attempt (1 for the first):
// 2^(attempt-1) × 1 s × jitter, capped at 60 s. jitter is clamped to [0.5, 1.5].
func backoff(attempt int, jitter float64) time.Duration {
	jitter = min(max(jitter, 0.5), 1.5)
	n := max(attempt-1, 0)
	if n > 7 { // 2^7 s × 0.5 is already beyond the cap; also keeps the shift from overflowing
		return backoffMax
	}
	d := time.Duration(float64(backoffBase<<n) * jitter)
	return min(d, backoffMax)
}

// retryWait returns how long to wait before retrying after err, the failure of the given attempt.
// ok is false when the server asked for more than maxRetryAfter.
func retryWait(err error, attempt int, jitter float64) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		if apiErr.RetryAfter > maxRetryAfter {
			return 0, false
		}
		return apiErr.RetryAfter, true
	}
	return backoff(attempt, jitter), true
}

// RetryAfter returns the wait that the Retry-After header of the *APIError in err's chain asked
// for, or 0 when err carries none. A request waits out a Retry-After of up to 5 minutes itself;
// a longer one (Box has sent half an hour) comes back to the caller, whose loop must then wait
// at least this long (max of its own backoff and RetryAfter) before asking again.
func RetryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return max(apiErr.RetryAfter, 0)
	}
	return 0
}
