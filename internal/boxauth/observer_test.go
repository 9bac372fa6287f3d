package boxauth

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
)

// counts is an Observer that counts.
type counts struct{ refreshed, failed atomic.Int32 }

func (c *counts) observer() Observer {
	return Observer{
		Refreshed: func() { c.refreshed.Add(1) },
		Failed:    func(error) { c.failed.Add(1) },
	}
}

func TestSource_Observe(t *testing.T) {
	ctx := ctxT(t)
	f := &countingFetch{}
	s := NewSource(f.fetch, clock.NewMock())
	var c counts
	s.Observe(c.observer())

	_, err := s.Token(ctx)
	require.NoError(t, err)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.refreshed.Load(), "a cached token is no refresh")

	s.Invalidate("tok-1")
	f.setErr(errors.New("token endpoint down"))
	_, err = s.Token(ctx)
	require.Error(t, err)
	require.EqualValues(t, 1, c.failed.Load())

	f.setErr(nil)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, c.refreshed.Load())
	require.EqualValues(t, 1, c.failed.Load())
}

func TestDeveloperToken_Observe(t *testing.T) {
	ctx := ctxT(t)
	s := DeveloperToken(secretOf("dev-token"))
	var c counts
	s.Observe(c.observer())
	_, err := s.Token(ctx)
	require.NoError(t, err)
	s.Invalidate("dev-token")
	_, err = s.Token(ctx)
	require.ErrorIs(t, err, ErrRefused)
	require.EqualValues(t, 0, c.refreshed.Load())
	require.EqualValues(t, 1, c.failed.Load())
}
