package box_events

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every backoff doubles from a second up to its limit, and a long run of
// attempts never overflows into a short (or negative) wait.
func TestDoubling(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		require.Equal(t, w, doubling(i+1, time.Minute), "attempt %d", i+1)
	}
	for _, n := range []int{34, 64, 65, 1000, math.MaxInt} {
		require.Equal(t, 5*time.Minute, doubling(n, 5*time.Minute), "attempt %d", n)
	}
}
