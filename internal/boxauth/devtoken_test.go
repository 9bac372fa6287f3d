package boxauth

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeveloperToken(t *testing.T) {
	ctx := ctxT(t)
	current := "dev-token-1"
	var reads int
	s := DeveloperToken(func() (string, error) { reads++; return current + "\n", nil })

	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "dev-token-1", tok)

	s.Invalidate("unrelated")
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "dev-token-1", tok)

	s.Invalidate("dev-token-1")
	for range 3 {
		_, err = s.Token(ctx)
		require.ErrorIs(t, err, ErrRefused)
		require.EqualError(t, err, "developer token expired or was revoked: developer tokens last 60 minutes "+
			"and cannot be refreshed; generate a new one in the Box Developer Console or use client_credentials/jwt")
	}
	require.Equal(t, 5, reads, "one secret read per Token call, no retry loop")

	// A new token put into the secret store is used.
	current = "dev-token-2"
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "dev-token-2", tok)
}

func TestDeveloperToken_Errors(t *testing.T) {
	tests := []struct {
		name   string
		secret Secret
		want   string
	}{
		{"nil", nil, "no token configured"},
		{"empty", secretOf("  "), "developer token is empty"},
		{"store error", func() (string, error) { return "", errors.New("locked") }, "reading developer token: locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DeveloperToken(tt.secret).Token(ctxT(t))
			require.ErrorContains(t, err, tt.want)
			require.NotErrorIs(t, err, ErrRefused)
		})
	}
}

func TestDeveloperToken_Close(t *testing.T) {
	s := DeveloperToken(secretOf("dev-token"))
	_, err := s.Token(ctxT(t))
	require.NoError(t, err)
	require.NoError(t, s.Close(ctxT(t)))
	require.NoError(t, s.Close(ctxT(t)))
	_, err = s.Token(ctxT(t))
	require.ErrorIs(t, err, ErrClosed)
}
