package boxauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	// every refresh. Required; must exist and be non-empty.
	RefreshTokenFile string
	HTTPClient       *http.Client // nil means http.DefaultClient
	Clock            clock.Clock  // nil means the real clock
}

const maxRefreshTokenFileSize = 64 << 10

// refreshFiles serialises the refreshes of one refresh-token file across all
// Sources of the process. A Box refresh token is single-use, so two Sources
// refreshing from the same file at once would have one present a token the
// other has just spent. This is deliberately package state: the file is a
// process-wide resource. Keyed by absolute path with symlinks resolved.
var refreshFiles sync.Map // string -> *refreshFile

type refreshFile struct {
	sem chan struct{} // capacity 1; held across read, request and write
	// pending is a rotated refresh token Box returned that could not be
	// saved; it is used (and saved again) by the next refresh. Guarded by sem.
	pending string
}

func sharedRefreshFile(path string) *refreshFile {
	v, _ := refreshFiles.LoadOrStore(path, &refreshFile{sem: make(chan struct{}, 1)})
	return v.(*refreshFile)
}

// refresher performs one refresh: read the current token, exchange it, save
// the new one, and only then hand out the access token.
type refresher struct {
	path         string
	clientID     string
	clientSecret Secret
	tokenURL     string
	hc           *http.Client
	file         *refreshFile
	save         func(path string, data []byte, perm os.FileMode) error
}

// RefreshToken returns a Source that obtains access tokens by refreshing the
// token stored in cfg.RefreshTokenFile. Each refresh reads the file, posts
// grant_type=refresh_token, and writes the rotated refresh token back
// atomically (temp file, fsync, rename, directory fsync, mode 0600) before the
// new access token is returned. A crash before the request leaves the old,
// still valid token in the file; a crash after the write leaves the new one.
//
// Refreshes of one file are serialised across every Source in the process
// and each re-reads the file, so several Sources may share a file. Two
// processes must not share one: nothing locks the file between processes. A
// refresh whose answer is lost after Box has rotated the token (network cut,
// the Source's one-minute fetch timeout) leaves a spent token in the file;
// the consent flow must then be re-run.
func RefreshToken(cfg RefreshConfig) (*Source, error) {
	r, err := newRefresher(cfg)
	if err != nil {
		return nil, err
	}
	return NewSource(r.fetch, cfg.Clock), nil
}

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
	path, err := filepath.Abs(cfg.RefreshTokenFile)
	if err != nil {
		return nil, fmt.Errorf("box refresh token file: %w", err)
	}
	// Rewrite the link's target, not the link (the rename must stay within
	// the target's directory).
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if _, err := readRefreshToken(path); err != nil {
		return nil, err
	}
	return &refresher{
		path:         path,
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		tokenURL:     tokenURL,
		hc:           cfg.HTTPClient,
		file:         sharedRefreshFile(path),
		save:         safefile.WriteAtomic,
	}, nil
}

func readRefreshToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("box refresh token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRefreshTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("box refresh token file: %w", err)
	}
	if len(data) > maxRefreshTokenFileSize {
		return "", fmt.Errorf("box refresh token file %s: larger than %d bytes, not a refresh token", path, maxRefreshTokenFileSize)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("box refresh token file %s is empty: run the OAuth2 consent flow and store the refresh token there", path)
	}
	return tok, nil
}

func (r *refresher) fetch(ctx context.Context) (*oauth2.Token, error) {
	select {
	case r.file.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another refresh of %s: %w", r.path, ctx.Err())
	}
	defer func() { <-r.file.sem }()

	rt, fromMemory := r.file.pending, true
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
	if r.hc != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, r.hc)
	}
	conf := &oauth2.Config{
		ClientID:     r.clientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: r.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrRefused) {
			r.file.pending = "" // fall back to the file, which an operator may have renewed
			return nil, fmt.Errorf("box refused the refresh token from %s (spent, expired or revoked; "+
				"the OAuth2 consent flow may need to be re-run): %w", r.path, err)
		}
		return nil, err
	}
	// oauth2 copies the old refresh token when the answer has none.
	if tok.RefreshToken != "" && (tok.RefreshToken != rt || fromMemory) {
		if err := r.save(r.path, []byte(tok.RefreshToken+"\n"), 0o600); err != nil {
			r.file.pending = tok.RefreshToken
			return nil, fmt.Errorf("the new box refresh token could not be saved to %s; it is kept in memory "+
				"for the next refresh, but if the process stops first the OAuth2 consent flow must be re-run: %w",
				r.path, err)
		}
	}
	r.file.pending = ""
	return tok, nil
}
