package boxauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/oauth2"

	"github.com/telegraf-box/telegraf-box/internal/safefile"
)

// RefreshConfig configures 3-legged OAuth2 with Box's rotating refresh tokens.
type RefreshConfig struct {
	TokenURL     string // default DefaultTokenURL
	ClientID     string // required
	ClientSecret Secret // required; called at each refresh
	// RefreshTokenFile holds the current refresh token as plain text
	// (surrounding whitespace ignored). It is rewritten, mode 0600, after
	// every refresh. Required; must exist and be non-empty. Its directory
	// must be writable: the lock file RefreshTokenFile + ".lock" is created
	// there (and left there) by the first Source that owns the file.
	RefreshTokenFile string
	HTTPClient       *http.Client  // nil means http.DefaultClient
	Clock            clock.Clock   // nil means the real clock
	Timeout          time.Duration // bounds one token request; 0 means a minute
}

const maxRefreshTokenFileSize = 64 << 10

// refresher performs one refresh: read the current token, exchange it, save
// the new one, and only then hand out the access token. It owns its file
// (lock) for its whole life, and its Source runs at most one fetch at a
// time, so nothing else reads or writes the file meanwhile.
type refresher struct {
	lock         *safefile.Lock
	path         string // lock.Path(): absolute, symlinks resolved
	clientID     string
	clientSecret Secret
	tokenURL     string
	hc           *http.Client
	save         func(path string, data []byte, perm os.FileMode) error
	// pending is a rotated refresh token Box returned that could not be
	// saved; it is used (and saved again) by the next refresh. Only fetch
	// touches it, and the Source never runs two fetches at once.
	pending string
}

// RefreshToken returns a Source that obtains access tokens by refreshing the
// token stored in cfg.RefreshTokenFile. Each refresh reads the file, posts
// grant_type=refresh_token, and writes the rotated refresh token back
// atomically (temp file, fsync, rename, directory fsync, mode 0600) before the
// new access token is returned. A crash before the request leaves the old,
// still valid token in the file; a crash after the write leaves the new one.
//
// A Box refresh token is single-use, so the file has one owner: the Source
// takes an exclusive lock on it (the sidecar file RefreshTokenFile + ".lock",
// see safefile.Acquire) and keeps it until Close. While another Source, in
// this process or another, holds it, RefreshToken fails with an error naming
// the file and matching safefile.ErrLocked. A refresh whose answer is lost
// after Box has rotated the token (network cut, the Source's fetch
// timeout) leaves a spent token in the file; the consent flow must then be
// re-run.
func RefreshToken(cfg RefreshConfig) (*Source, error) {
	r, err := newRefresher(cfg)
	if err != nil {
		return nil, err
	}
	s := NewSource(r.fetch, cfg.Clock).withTimeout(cfg.Timeout)
	s.release = r.lock.Release
	s.finish = true // Box spends the old token once it answers: the new one must reach the file
	return s, nil
}

// newRefresher checks cfg and the file, then takes the file's lock; the
// caller must release r.lock.
func newRefresher(cfg RefreshConfig) (*refresher, error) {
	var missing []string
	if cfg.ClientID == "" {
		missing = append(missing, "client_id")
	}
	if cfg.ClientSecret == nil {
		missing = append(missing, "client_secret")
	}
	if cfg.RefreshTokenFile == "" {
		missing = append(missing, "refresh_token_file")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("box refresh token: %s required", strings.Join(missing, ", "))
	}
	tokenURL, err := checkTokenURL(cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("box refresh token: %w", err)
	}
	// Read before locking, so a missing or empty file is reported as such
	// and no lock file is left next to a path that holds no token.
	if _, err := readRefreshToken(cfg.RefreshTokenFile); err != nil {
		return nil, err
	}
	lock, err := safefile.Acquire(cfg.RefreshTokenFile)
	if err != nil {
		return nil, fmt.Errorf("box refresh token file: %w", err)
	}
	return &refresher{
		lock: lock,
		// Rewrite the link's target, not the link (the rename must stay
		// within the target's directory).
		path:         lock.Path(),
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		tokenURL:     tokenURL,
		hc:           noRedirects(cfg.HTTPClient),
		save:         safefile.WriteAtomic,
	}, nil
}

func readRefreshToken(path string) (string, error) {
	data, err := readLimited(path, "box refresh token file", maxRefreshTokenFileSize)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("box refresh token file %s is empty: run the OAuth2 consent flow and store the refresh token there", path)
	}
	return tok, nil
}

func (r *refresher) fetch(ctx context.Context) (*oauth2.Token, error) {
	rt, fromMemory := r.pending, true
	if rt == "" {
		var err error
		if rt, err = readRefreshToken(r.path); err != nil {
			return nil, err
		}
		fromMemory = false
	}
	secret, err := getSecret(r.clientSecret, "client_secret")
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.hc)
	conf := &oauth2.Config{
		ClientID:     r.clientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: r.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrRefused) {
			r.pending = "" // fall back to the file, which an operator may have renewed
			return nil, fmt.Errorf("box refused the refresh token from %s (spent, expired or revoked; "+
				"the OAuth2 consent flow may need to be re-run): %w", r.path, err)
		}
		return nil, err
	}
	// oauth2 copies the old refresh token when the answer has none.
	if tok.RefreshToken != "" && (tok.RefreshToken != rt || fromMemory) {
		if err := r.save(r.path, []byte(tok.RefreshToken+"\n"), 0o600); err != nil {
			r.pending = tok.RefreshToken
			return nil, fmt.Errorf("the new box refresh token could not be saved to %s; it is kept in memory "+
				"for the next refresh, but if the process stops first the OAuth2 consent flow must be re-run: %w",
				r.path, err)
		}
	}
	r.pending = ""
	return tok, nil
}
