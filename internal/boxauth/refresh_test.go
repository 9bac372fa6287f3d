package boxauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/telegraf-box/telegraf-box/internal/safefile"
)

// rotatingBox is a fake token endpoint with Box's refresh-token rules: each
// refresh token works once; using it kills it and issues the next one.
type rotatingBox struct {
	*tokenServer
	mu         sync.Mutex
	valid      map[string]bool
	issued     int
	rejected   int
	dropAnswer bool // rotate, then cut the connection before answering
	// hold, if set, keeps each request at the endpoint until it is closed;
	// arrived is told when one is held.
	hold, arrived chan struct{}
}

func newRotatingBox(t *testing.T, initial string) *rotatingBox {
	b := &rotatingBox{valid: map[string]bool{initial: true}}
	b.tokenServer = newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, form url.Values) {
		if b.hold != nil {
			b.arrived <- struct{}{}
			<-b.hold
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if form.Get("grant_type") != "refresh_token" || form.Get("client_id") != "cid" || form.Get("client_secret") != "csecret" {
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_client"})
			return
		}
		rt := form.Get("refresh_token")
		if !b.valid[rt] {
			b.rejected++
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh token"})
			return
		}
		delete(b.valid, rt)
		b.issued++
		next := fmt.Sprintf("rt-%d", b.issued)
		b.valid[next] = true
		if b.dropAnswer {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		writeJSON(t, w, http.StatusOK, map[string]any{"access_token": fmt.Sprintf("at-%d", b.issued),
			"refresh_token": next, "expires_in": 3600, "token_type": "bearer"})
	})
	return b
}

func (b *rotatingBox) Rejected() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rejected
}

func (b *rotatingBox) config(path string) RefreshConfig {
	return RefreshConfig{TokenURL: b.TokenURL(), ClientID: "cid", ClientSecret: secretOf("csecret"),
		RefreshTokenFile: path, HTTPClient: b.Client()}
}

// tokenFile writes content into a fresh directory and returns the file's path.
func tokenFile(t *testing.T, content string, mode os.FileMode) string {
	path := filepath.Join(t.TempDir(), "box_refresh_token")
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	return path
}

func readFile(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// crash drops what a dead process held: the OS releases its lock on the
// refresh token file, without waiting for anything in flight.
func crash(t *testing.T, s *Source) {
	s.mu.Lock()
	release := s.release
	s.mu.Unlock()
	require.NotNil(t, release)
	require.NoError(t, release())
}

// newTestRefresher is newRefresher whose lock is released at the end of the test.
func newTestRefresher(t *testing.T, cfg RefreshConfig) *refresher {
	r, err := newRefresher(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.lock.Release()) })
	return r
}

func TestRefreshToken_PersistsRotatedTokenBeforeReturning(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	path := tokenFile(t, "  rt-0\n", 0o644)
	r := newTestRefresher(t, box.config(path))

	var returned atomic.Bool
	type seen struct {
		content  string
		mode     os.FileMode
		returned bool
	}
	var saves []seen
	r.save = func(p string, data []byte, perm os.FileMode) error {
		if err := safefile.WriteAtomic(p, data, perm); err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		content, err := os.ReadFile(path)
		saves = append(saves, seen{string(content), st.Mode().Perm(), returned.Load()})
		return err
	}
	s := NewSource(r.fetch, clock.NewMock())
	ctx := ctxT(t)

	tok, err := s.Token(ctx)
	returned.Store(true)
	require.NoError(t, err)
	require.Equal(t, "at-1", tok)
	want := os.FileMode(0o600)
	if runtime.GOOS == "windows" {
		want = 0o666 // only the read-only bit exists there: the directory's ACL protects the file
	}
	require.Equal(t, []seen{{"rt-1\n", want, false}}, saves, "saved, 0600, before the access token was returned")
	require.Equal(t, []url.Values{{"grant_type": {"refresh_token"}, "refresh_token": {"rt-0"},
		"client_id": {"cid"}, "client_secret": {"csecret"}}}, box.Forms())

	s.Invalidate(tok)
	returned.Store(false)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "at-2", tok)
	require.Equal(t, "rt-2\n", readFile(t, path))
	require.Equal(t, "rt-1", box.Forms()[1].Get("refresh_token"))
	require.Zero(t, box.Rejected())

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary files left behind, only the token and its lock file")
}

func TestRefreshToken_Validation(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n\t"), 0o600))
	good := tokenFile(t, "rt", 0o600)
	tests := []struct {
		name string
		cfg  RefreshConfig
		want string
	}{
		{"nothing", RefreshConfig{}, "client_id, client_secret, refresh_token_file required"},
		{"client_secret", RefreshConfig{ClientID: "c", RefreshTokenFile: good}, "client_secret required"},
		{"missing file", RefreshConfig{ClientID: "c", ClientSecret: secretOf("s"), RefreshTokenFile: filepath.Join(dir, "nope")},
			filepath.Join(dir, "nope") + ": no such file"},
		{"empty file", RefreshConfig{ClientID: "c", ClientSecret: secretOf("s"), RefreshTokenFile: empty},
			"box refresh token file " + empty + " is empty: run the OAuth2 consent flow"},
		{"bad token_url", RefreshConfig{ClientID: "c", ClientSecret: secretOf("s"), RefreshTokenFile: good, TokenURL: "ftp://x"}, "token_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RefreshToken(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("process killed before the request left")
}

func TestRefreshToken_CrashBeforeRequest(t *testing.T) {
	t.Run("never used", func(t *testing.T) {
		box := newRotatingBox(t, "rt-0")
		path := tokenFile(t, "rt-0", 0o600)
		a, err := RefreshToken(box.config(path))
		require.NoError(t, err)
		crash(t, a)

		b, err := RefreshToken(box.config(path))
		require.NoError(t, err)
		tok, err := b.Token(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)
		require.Equal(t, "rt-1\n", readFile(t, path))
	})
	t.Run("request never reached Box", func(t *testing.T) {
		box := newRotatingBox(t, "rt-0")
		path := tokenFile(t, "rt-0", 0o600)
		cfg := box.config(path)
		cfg.HTTPClient = &http.Client{Transport: failingTransport{}}
		a, err := RefreshToken(cfg)
		require.NoError(t, err)
		_, err = a.Token(ctxT(t))
		require.ErrorContains(t, err, "process killed before the request left")
		require.NotErrorIs(t, err, ErrRefused)
		require.Equal(t, "rt-0", readFile(t, path), "the old token, still valid, stays in the file")
		crash(t, a)

		b, err := RefreshToken(box.config(path))
		require.NoError(t, err)
		tok, err := b.Token(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)
		require.Zero(t, box.Rejected())
	})
}

func TestRefreshToken_CrashAfterWrite(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	path := tokenFile(t, "rt-0", 0o600)
	r := newTestRefresher(t, box.config(path))
	written, killed := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(killed) })
	r.save = func(p string, data []byte, perm os.FileMode) error {
		err := safefile.WriteAtomic(p, data, perm)
		close(written)
		<-killed // the process dies here: the access token is never returned
		return err
	}
	a := NewSource(r.fetch, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.Token(ctx)
		errc <- err
	}()
	<-written
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Equal(t, "rt-1\n", readFile(t, path))
	require.NoError(t, r.lock.Release()) // the process died: the OS dropped its lock

	b, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	tok, err := b.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "at-2", tok)
	require.Equal(t, "rt-2\n", readFile(t, path))
	require.Zero(t, box.Rejected(), "the restart presented the new token, not the spent one")
}

// TestRefreshToken_AnswerLost documents the window no client can close: Box
// rotated the token but its answer never arrived. The restart gets a clear
// refusal telling the operator to re-run the consent flow.
func TestRefreshToken_AnswerLost(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	box.dropAnswer = true
	path := tokenFile(t, "rt-0", 0o600)
	a, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	_, err = a.Token(ctxT(t))
	require.ErrorContains(t, err, "box token request failed")
	require.NotErrorIs(t, err, ErrRefused)
	crash(t, a)

	box.mu.Lock()
	box.dropAnswer = false
	box.mu.Unlock()
	b, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	_, err = b.Token(ctxT(t))
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "box refused the refresh token from "+path)
	require.ErrorContains(t, err, "consent flow may need to be re-run")
	require.ErrorContains(t, err, "invalid_grant: Invalid refresh token")
}

func TestRefreshToken_SaveFailure(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	path := tokenFile(t, "rt-0", 0o600)
	r := newTestRefresher(t, box.config(path))
	r.save = func(string, []byte, os.FileMode) error { return errors.New("no space left on device") }
	s := NewSource(r.fetch, clock.NewMock())
	ctx := ctxT(t)

	_, err := s.Token(ctx)
	require.ErrorContains(t, err, "the new box refresh token could not be saved to "+path)
	require.ErrorContains(t, err, "OAuth2 consent flow must be re-run")
	require.ErrorContains(t, err, "no space left on device")
	require.NotContains(t, err.Error(), "rt-1")
	require.NotContains(t, err.Error(), "at-1")
	require.NotErrorIs(t, err, ErrRefused)
	require.Equal(t, "rt-0", readFile(t, path))

	// Once the disk recovers, the token kept in memory is used and saved.
	r.save = safefile.WriteAtomic
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "at-2", tok)
	require.Equal(t, "rt-2\n", readFile(t, path))
	require.Zero(t, box.Rejected())
}

// TestRefreshToken_OneOwnerPerFile: a Box refresh token is single-use, so
// two instances (processes or plugin instances) refreshing from one file
// spend each other's tokens. The second one is refused at construction,
// whatever the spelling of the path, until the first is closed.
func TestRefreshToken_OneOwnerPerFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("creating symlinks needs privileges on Windows")
	}
	box := newRotatingBox(t, "rt-0")
	path := tokenFile(t, "rt-0", 0o600)
	resolved, err := filepath.EvalSymlinks(path)
	require.NoError(t, err)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(path, link))

	a, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	for _, p := range []string{path, link} {
		b, err := RefreshToken(box.config(p))
		require.ErrorIs(t, err, safefile.ErrLocked, p)
		require.Nil(t, b)
		require.EqualError(t, err, "box refresh token file: "+resolved+" is in use by another instance (lock file "+
			resolved+".lock is held)")
	}
	tok, err := a.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "at-1", tok)

	require.NoError(t, a.Close(ctxT(t)))
	b, err := RefreshToken(box.config(link))
	require.NoError(t, err, "closing the first Source released the file")
	tok, err = b.Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "at-2", tok)
	require.Equal(t, "rt-2\n", readFile(t, path))
	require.Zero(t, box.Rejected())
	require.NoError(t, b.Close(ctxT(t)))
}

func TestRefreshToken_Symlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("creating symlinks needs privileges on Windows")
	}
	box := newRotatingBox(t, "rt-0")
	target := tokenFile(t, "rt-0", 0o600)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(target, link))
	s, err := RefreshToken(box.config(link))
	require.NoError(t, err)
	_, err = s.Token(ctxT(t))
	require.NoError(t, err)
	st, err := os.Lstat(link)
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&os.ModeSymlink, "the link is kept")
	require.Equal(t, "rt-1\n", readFile(t, target))
}

func TestRefreshToken_RefreshAhead(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	path := tokenFile(t, "rt-0", 0o600)
	mock := clock.NewMock()
	cfg := box.config(path)
	cfg.Clock = mock
	s, err := RefreshToken(cfg)
	require.NoError(t, err)
	ctx := ctxT(t)
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "at-1", tok)

	mock.Add(55 * time.Minute)
	tok, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "at-1", tok)
	require.Eventually(t, func() bool {
		tok, err := s.Token(ctx)
		return err == nil && tok == "at-2"
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, "rt-2\n", readFile(t, path))
}

// TestRefreshToken_CloseWaitsForRotation: a refresh is held at the token
// endpoint when the process is asked to stop. Close with a context already
// done returns at once; Close with time waits until the rotated refresh
// token is on disk, so the process may exit then.
func TestRefreshToken_CloseWaitsForRotation(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	box.hold, box.arrived = make(chan struct{}), make(chan struct{}, 1)
	path := tokenFile(t, "rt-0", 0o600)
	s, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	tokc := make(chan error, 1)
	go func() {
		_, err := s.Token(ctxT(t))
		tokc <- err
	}()
	<-box.arrived

	done, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Close(done), context.Canceled)
	require.Equal(t, "rt-0", readFile(t, path))
	_, err = RefreshToken(box.config(path))
	require.ErrorIs(t, err, safefile.ErrLocked, "the file stays owned while its rotation is in flight")

	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctxT(t)) }()
	close(box.hold)
	require.NoError(t, <-closed)
	require.Equal(t, "rt-1\n", readFile(t, path), "the rotated token was saved before Close returned")
	require.NoError(t, <-tokc)
	_, err = s.Token(ctxT(t))
	require.ErrorIs(t, err, ErrClosed)
	next, err := RefreshToken(box.config(path))
	require.NoError(t, err, "Close released the file")
	require.NoError(t, next.Close(ctxT(t)))
}

// TestRefreshToken_AbandonedCloseReleasesAfterFetch: when Close gives up
// waiting, the file is released as soon as the rotation in flight ends.
func TestRefreshToken_AbandonedCloseReleasesAfterFetch(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	box.hold, box.arrived = make(chan struct{}), make(chan struct{}, 1)
	path := tokenFile(t, "rt-0", 0o600)
	s, err := RefreshToken(box.config(path))
	require.NoError(t, err)
	tokc := make(chan error, 1)
	go func() {
		_, err := s.Token(ctxT(t))
		tokc <- err
	}()
	<-box.arrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Close(ctx), context.Canceled)

	close(box.hold)
	require.Eventually(t, func() bool {
		next, err := RefreshToken(box.config(path))
		if err != nil {
			return false
		}
		return next.Close(context.Background()) == nil
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, "rt-1\n", readFile(t, path))
	require.NoError(t, <-tokc)
}

// A refresh token file written on Windows (Notepad's "UTF-8 with BOM", CRLF) holds the
// token the consent flow gave, not a byte order mark in front of it: Box would answer
// invalid_grant, and the single-use token would look revoked.
func TestRefreshToken_FileEditedOnWindows(t *testing.T) {
	box := newRotatingBox(t, "rt-0")
	r := newTestRefresher(t, box.config(tokenFile(t, "\uFEFFrt-0\r\n", 0o600)))
	tok, err := NewSource(r.fetch, clock.NewMock()).Token(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, "at-1", tok)
	require.Equal(t, "rt-0", box.Forms()[0].Get("refresh_token"))
}
