package boxauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// errDeveloperTokenExpired is returned once the API refused a developer token.
var errDeveloperTokenExpired = &refusedError{err: errors.New("developer token expired or was revoked: " +
	"developer tokens last 60 minutes and cannot be refreshed; " +
	"generate a new one in the Box Developer Console or use client_credentials/jwt")}

// StaticSource hands out a developer token as is. Developer tokens cannot be
// refreshed: once the API answered 401 for one, Token fails with an error
// matching ErrRefused until the secret yields a different token. It is safe
// for concurrent use.
type StaticSource struct {
	token Secret

	mu      sync.Mutex
	revoked map[[sha256.Size]byte]struct{} // hashes only: no token is kept
	closed  atomic.Bool
	failed  func(err error)
}

// Observe sets the Observer of the source; only Failed is called, when Token refuses a developer
// token the API has refused (a developer token is never refreshed). Call it before the first Token.
func (s *StaticSource) Observe(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = o.Failed
}

// DeveloperToken returns a StaticSource for a developer token. token is called
// at each Token call, so a new token placed in the secret store is picked up.
func DeveloperToken(token Secret) *StaticSource {
	return &StaticSource{token: token, revoked: make(map[[sha256.Size]byte]struct{})}
}

// Token returns the developer token, or an error matching ErrRefused if the
// API has refused it, or ErrClosed after Close.
func (s *StaticSource) Token(ctx context.Context) (string, error) {
	if s.closed.Load() {
		return "", ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("box access token: %w", err)
	}
	if s.token == nil {
		return "", errors.New("developer token: no token configured")
	}
	tok, err := s.token()
	if err != nil {
		return "", fmt.Errorf("reading developer token: %w", err)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", errors.New("developer token is empty")
	}
	s.mu.Lock()
	_, revoked := s.revoked[sha256.Sum256([]byte(tok))]
	failed := s.failed
	s.mu.Unlock()
	if revoked {
		if failed != nil {
			failed(errDeveloperTokenExpired)
		}
		return "", errDeveloperTokenExpired
	}
	return tok, nil
}

// Invalidate records that the API answered 401 for token.
func (s *StaticSource) Invalidate(token string) {
	token = strings.TrimSpace(token)
	if token == "" {
		return
	}
	s.mu.Lock()
	s.revoked[sha256.Sum256([]byte(token))] = struct{}{}
	s.mu.Unlock()
}

// Close makes later Token calls fail with ErrClosed, like Source.Close. A
// developer token holds nothing and fetches nothing, so Close does not wait
// and always returns nil; it exists so that callers can treat every source
// alike.
func (s *StaticSource) Close(context.Context) error {
	s.closed.Store(true)
	return nil
}
