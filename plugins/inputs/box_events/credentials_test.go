package box_events

import (
	"context"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Credentials go only where they belong: Box's API host, or a Box host over
// https. Never a realtime server on another host over plain http, never the
// host a redirect names, never a second instance's file.

// requireNoCredentials checks every request the realtime endpoint received.
func requireNoCredentials(t *testing.T, sim *boxsim.Server) {
	t.Helper()
	reqs := sim.RequestLog(boxsim.EndpointLongPoll)
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		require.Empty(t, r.Header.Get("Authorization"), "a bearer token went to the realtime host over plain http")
		require.Empty(t, r.Header.Get("As-User"))
	}
}

func TestRealtimeHost_GetsNoCredentialsOverHTTP(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 70})
	_, err := sim.StartRealtime("127.0.0.2:0")
	require.NoError(t, err)
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.AsUser = boxsim.DefaultUserID // the service account reads a user's stream
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)
	requireNoCredentials(t, sim)
	for _, r := range sim.RequestLog(boxsim.EndpointEvents) {
		require.NotEmpty(t, r.Header.Get("Authorization"), "the API host gets the token")
		require.Equal(t, boxsim.DefaultUserID, r.Header.Get("As-User"))
	}
}

func TestRealtimeHost_RefusingFallsBackToPolling(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 71, RealtimeRequiresAuth: true})
	_, err := sim.StartRealtime("127.0.0.2:0")
	require.NoError(t, err)
	mock := mockClock()
	logger := &testutil.CaptureLogger{}
	p := withMock(newPlugin(sim, "all"), mock)
	p.Log = logger
	_, out := run(t, p)

	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 10*time.Second))
	// Events keep arriving without the long poll, by polling every few seconds.
	for range 3 {
		sim.EmitUser(2)
		catchUp(t, sim, p, mock, out)
	}
	gets := sim.Requests(boxsim.EndpointEvents)
	for range 60 {
		mock.Add(time.Second)
		out.accept()
	}
	require.NoError(t, sim.WaitRequests(boxsim.EndpointEvents, gets+10, 10*time.Second))
	require.LessOrEqual(t, sim.Requests(boxsim.EndpointEvents)-gets, 13, "at most one GET /events every %s", pollFallbackInterval)
	require.Equal(t, 1, sim.Requests(boxsim.EndpointLongPoll), "the realtime server is not asked again for an hour")
	requireNoCredentials(t, sim)

	warnings := 0
	for _, w := range logger.Warnings() {
		if strings.Contains(w, "refused a long poll without credentials") {
			warnings++
		}
	}
	require.Equal(t, 1, warnings, "one warning says why: %q", logger.Warnings())
}

// A realtime URL on a Box host given as http is tried over https first (the
// token may go there), and long-polled over plain http without the token
// when https cannot connect.
func TestRealtimeHost_BoxHostHTTPSFirst(t *testing.T) {
	for _, httpsWorks := range []bool{true, false} {
		name := "https unreachable: http without credentials"
		if httpsWorks {
			name = "https works: token over https"
		}
		t.Run(name, func(t *testing.T) {
			const realtimeHost = "2.realtime.services.box.net"
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 72, RealtimeURLBase: "http://" + realtimeHost})
			var plainPolls, securePolls atomic.Int32
			counted := func(n *atomic.Int32) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n.Add(1)
					sim.RealtimeHandler().ServeHTTP(w, r)
				})
			}
			plain := httptest.NewServer(counted(&plainPolls))
			t.Cleanup(plain.Close)
			secure := httptest.NewTLSServer(counted(&securePolls))
			t.Cleanup(secure.Close)
			closed := closedPort(t)

			p := newPlugin(sim, "all")
			p.InsecureSkipVerify = true // the test server's certificate is not for the Box name
			p.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				switch addr {
				case realtimeHost + ":443":
					addr = closed
					if httpsWorks {
						addr = secure.Listener.Addr().String()
					}
				case realtimeHost + ":80":
					addr = plain.Listener.Addr().String()
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			acc, out := run(t, p)
			requireFlow(t, sim, p, nil, acc, out)

			for _, r := range sim.RequestLog(boxsim.EndpointLongPoll) {
				if httpsWorks {
					require.NotEmpty(t, r.Header.Get("Authorization"), "over https to a Box host the poll is authenticated")
				} else {
					require.Empty(t, r.Header.Get("Authorization"), "over plain http the token stays home")
				}
			}
			if httpsWorks {
				require.Positive(t, securePolls.Load())
				require.Zero(t, plainPolls.Load())
			} else {
				require.Positive(t, plainPolls.Load())
				require.Zero(t, securePolls.Load())
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// Today's clients follow a 307 from the token endpoint and post the client
// secret, refresh token or JWT assertion again to the host it names.
func TestRedirects_TokenEndpointNeverFollowed(t *testing.T) {
	key, err := jwtTestKey()
	require.NoError(t, err)
	const refresh = "refreshTokenBeforeTheRedirect0123456789abcdefghijklmnopqrstuvwxyz"
	for _, method := range []string{authClientCredentials, authJWT, authOAuth2Refresh} {
		t.Run(method, func(t *testing.T) {
			rec := newRecorder(t)
			sim := boxsim.NewTest(t, boxsim.Options{
				Seed:          73,
				JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey},
				RefreshTokens: []string{refresh},
			})
			sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultRedirect, Location: rec.url() + "/oauth2/token"})
			p := newPlugin(sim, "admin_logs_streaming")
			switch method {
			case authJWT:
				path, _ := writeJWTConfig(t, key, jwtPassphrase)
				jwtPlugin(p, path)
			case authOAuth2Refresh:
				p.StreamType = "all"
				p.Auth = authOAuth2Refresh
				p.RefreshToken = filepath.Join(t.TempDir(), "refresh")
				require.NoError(t, os.WriteFile(p.RefreshToken, []byte(refresh), 0o600))
			}
			acc, _ := run(t, p)
			acc.WaitError(1)
			err := acc.FirstError().Error()
			require.Contains(t, err, "307")
			require.Contains(t, err, rec.host())
			require.NotContains(t, err, "/oauth2/token", "the target host is named, not the whole Location")
			require.NotContains(t, err, boxsim.DefaultClientSecret)
			require.NotContains(t, err, refresh)
			require.Never(t, func() bool { return rec.count() > 0 }, 300*time.Millisecond, 10*time.Millisecond,
				"nothing may reach the host the redirect names")
		})
	}
}

func TestRedirects_EventsNeverFollowed(t *testing.T) {
	rec := newRecorder(t)
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 74})
	sim.EmitUser(3)
	sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultRedirect, Location: rec.url() + "/2.0/events?x=1"})
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.AsUser = boxsim.DefaultUserID
	acc, out := run(t, p)
	acc.WaitError(1)
	err := acc.FirstError().Error()
	require.Contains(t, err, "307")
	require.Contains(t, err, rec.host())
	require.NotContains(t, err, "x=1")
	// The stream goes on with Box itself; the other host saw nothing.
	pump(t, mock, out, retryStep, func() bool { return acc.NMetrics() == 3 })
	require.Zero(t, rec.count(), "As-User and the token must not follow the redirect")
}

func TestInit_PlainHTTPBaseURLOnlyOnLoopback(t *testing.T) {
	sim := boxsim.New(boxsim.Options{})
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://api.box.com", false},
		{"http://10.1.2.3:8080", false},
		{"http://127.0.0.1:1", true},
		{"http://localhost:8080/", true},
		{"http://[::1]:1", true},
		{"https://api.box.com/", true},
	} {
		p := newPlugin(sim, "all")
		p.BaseURL = tt.url
		err := p.Init()
		if tt.ok {
			require.NoError(t, err, tt.url)
			p.Stop()
			continue
		}
		require.ErrorContains(t, err, "base_url", tt.url)
		require.ErrorContains(t, err, "plain http")
	}
}

// Two instances on one state_file overwrote each other's positions.
func TestStateFile_OneOwner(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 75})
	path := filepath.Join(t.TempDir(), "box.state")
	first := newPlugin(sim, "admin_logs_streaming")
	first.StateFile = path
	require.NoError(t, first.Init())

	second := newPlugin(sim, "admin_logs_streaming")
	second.StateFile = path
	err := second.Init()
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "in use")

	first.Stop()
	require.NoError(t, second.Init(), "the file is free once its owner stopped")
	second.Stop()
}

// Two instances on one refresh_token_file spent each other's single-use
// refresh tokens.
func TestRefreshTokenFile_OneOwner(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 76, RefreshTokens: []string{"rt0123456789abcdefghij"}})
	path := filepath.Join(t.TempDir(), "refresh")
	require.NoError(t, os.WriteFile(path, []byte("rt0123456789abcdefghij"), 0o600))
	newRefreshPlugin := func() *BoxEvents {
		p := newPlugin(sim, "all")
		p.Auth = authOAuth2Refresh
		p.RefreshToken = path
		return p
	}
	first := newRefreshPlugin()
	require.NoError(t, first.Init())
	err := newRefreshPlugin().Init()
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "in use")
	first.Stop()
	second := newRefreshPlugin()
	require.NoError(t, second.Init())
	second.Stop()
}

// Stop used to return while a refresh-token rotation was in flight: Box had
// spent the old token, and the new one never reached the file.
func TestStop_WaitsForRefreshInFlight(t *testing.T) {
	const initial = "initialRefreshToken0123456789abcdefghijklmnopqrstuvwxyz"
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 77, RefreshTokens: []string{initial}})
	sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultDelay, Delay: time.Second})
	path := filepath.Join(t.TempDir(), "refresh")
	require.NoError(t, os.WriteFile(path, []byte(initial), 0o600))
	p := newPlugin(sim, "all")
	p.Auth = authOAuth2Refresh
	p.RefreshToken = path
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))

	require.NoError(t, sim.WaitRequests(boxsim.EndpointToken, 1, 10*time.Second))
	p.Stop()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, []string{strings.TrimSpace(string(data))}, sim.RefreshTokens(),
		"the rotated refresh token is on disk when Stop returns")
}

// Box documents its API's base URL as https://api.box.com/2.0. Given as
// base_url, Init accepted it, and every request went to /2.0/oauth2/token
// and /2.0/2.0/events: 404s, retried with backoff for ever, instead of a
// startup error saying what base_url wants.
func TestInit_BaseURLWithAPIVersionRefused(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, path := range []string{"/2.0", "/2.0/", "/2.0/events"} {
		p := newPlugin(sim, "all")
		p.BaseURL = "https://api.box.com" + path
		err := p.Init()
		require.ErrorContains(t, err, "base_url", path)
		require.ErrorContains(t, err, `without "/2.0"`, path)
	}
	p := newPlugin(sim, "all")
	p.BaseURL = "https://gateway.example.com/box/"
	require.NoError(t, p.Init(), "a path of a proxy's own is the API root below it")
	p.Stop()
}
