package box_events

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// The plugin's TLS and proxy options (Telegraf's tls.ClientConfig and
// proxy.HTTPProxy) apply to every request: token, events, OPTIONS and the
// long poll.

func TestTransport_TLS(t *testing.T) {
	tests := []struct {
		name      string
		configure func(p *BoxEvents, caFile string)
		wantErr   string // "" when events must flow
	}{
		{"tls_ca trusts the server", func(p *BoxEvents, caFile string) { p.TLSCA = caFile }, ""},
		{"insecure_skip_verify", func(p *BoxEvents, _ string) { p.InsecureSkipVerify = true }, ""},
		{"an unknown authority is refused", func(*BoxEvents, string) {}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.New(boxsim.Options{Seed: 51})
			t.Cleanup(sim.Close)
			// Mounted elsewhere, the simulator hands out realtime URLs on the
			// host and scheme it was reached by: the long poll is HTTPS too.
			ts := httptest.NewTLSServer(sim.Handler())
			t.Cleanup(ts.Close)
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
			require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))

			mock := mockClock()
			p := withMock(newPlugin(sim, "all"), mock)
			p.BaseURL = ts.URL
			tt.configure(p, caFile)
			acc, out := run(t, p)
			if tt.wantErr != "" {
				require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
				require.Contains(t, errorTexts(acc)[0], tt.wantErr)
				require.Zero(t, sim.Requests(boxsim.EndpointToken), "nothing reaches an unverified server")
				return
			}
			requireFlow(t, sim, p, mock, acc, out)
			last, ok := sim.LastRequest(boxsim.EndpointLongPoll)
			require.True(t, ok)
			require.NotEmpty(t, last.Header.Get("Authorization"))
		})
	}
}

// forwardProxy is a minimal HTTP forward proxy that counts what it forwards
// by path, to show that every request went through it.
type forwardProxy struct {
	transport *http.Transport
	mu        sync.Mutex
	hits      map[string]int
}

func (fp *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A client talking to a proxy puts the absolute URL in the request line.
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	fp.mu.Lock()
	fp.hits[r.URL.Path]++
	fp.mu.Unlock()
	out := r.Clone(r.Context()) // the plugin hanging up ends the forwarded request too
	out.RequestURI = ""
	resp, err := fp.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body) //nolint:errcheck // the client may have gone
}

func (fp *forwardProxy) count(path string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.hits[path]
}

func TestTransport_HTTPProxy(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 52})
	// No Proxy function: the test's own forwarding must not follow HTTP_PROXY.
	fp := &forwardProxy{transport: &http.Transport{}, hits: make(map[string]int)}
	t.Cleanup(fp.transport.CloseIdleConnections)
	proxySrv := httptest.NewServer(fp)
	t.Cleanup(proxySrv.Close)

	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.HTTPProxyURL = proxySrv.URL
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)

	// Every request the simulator saw came through the proxy. (Counts are
	// compared once the plugin idles in a long poll: the proxy counts a
	// request before the simulator does.)
	require.Eventually(t, func() bool {
		return fp.count("/oauth2/token") == sim.Requests(boxsim.EndpointToken) &&
			fp.count("/2.0/events") == sim.Requests(boxsim.EndpointEvents)+sim.Requests(boxsim.EndpointOptions) &&
			fp.count("/subscribe") == sim.Requests(boxsim.EndpointLongPoll)
	}, 10*time.Second, time.Millisecond, "requests bypassed the proxy")
	for _, ep := range []boxsim.Endpoint{boxsim.EndpointToken, boxsim.EndpointEvents, boxsim.EndpointOptions, boxsim.EndpointLongPoll} {
		require.Positive(t, sim.Requests(ep), ep)
	}
}

// A plain-http base_url is accepted only on a loopback address, because
// plain http then never leaves the host. Through http_proxy_url it does: the
// client secret and the bearer token crossed the network in clear text to
// the proxy (which would then reach its own loopback, not this host's).
func TestTransport_PlainHTTPBaseURLNotThroughARemoteProxy(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 53})
	proxy := newRecorder(t) // stands for proxy.example.net: it must see no credentials
	const proxyAddr = "proxy.example.net:3128"
	p := newPlugin(sim, "admin_logs_streaming")
	p.HTTPProxyURL = "http://user:proxyPassw0rd@" + proxyAddr
	p.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == proxyAddr {
			addr = proxy.srv.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	err := p.Init()
	if err == nil {
		// What it used to do: show what reached the proxy.
		require.NoError(t, p.Start(&testutil.Accumulator{}))
		require.Eventually(t, func() bool { return proxy.count() > 0 }, 10*time.Second, time.Millisecond)
		p.Stop()
	}
	proxy.mu.Lock()
	for _, r := range proxy.reqs {
		require.Empty(t, r.PostForm.Get("client_secret"), "the client secret went in clear text to the proxy")
		require.Empty(t, r.Header.Get("Authorization"), "a bearer token went in clear text to the proxy")
	}
	proxy.mu.Unlock()
	require.ErrorContains(t, err, "http_proxy_url")
	require.ErrorContains(t, err, "clear text")
	require.ErrorContains(t, err, proxyAddr)
	require.NotContains(t, err.Error(), "proxyPassw0rd", "the proxy's password is not quoted")
	require.Zero(t, proxy.count())

	// Still accepted: a proxy on this host, https through any proxy (a
	// CONNECT tunnel: the proxy sees ciphertext), and the environment's
	// proxy, which Go never uses for a loopback address.
	for _, tt := range []struct{ base, proxyURL string }{
		{sim.URL(), "http://127.0.0.1:3128"},
		{sim.URL(), "http://localhost:3128"},
		{"https://api.box.com", "http://" + proxyAddr},
	} {
		p := newPlugin(sim, "admin_logs_streaming")
		p.BaseURL, p.HTTPProxyURL = tt.base, tt.proxyURL
		require.NoError(t, p.Init(), tt)
		p.Stop()
	}
	p = newPlugin(sim, "admin_logs_streaming")
	p.UseSystemProxy = true
	require.NoError(t, p.Init())
	p.Stop()
}

// systemProxyChild marks the test binary re-executed with HTTP_PROXY set
// (Go reads the environment's proxy once per process).
const systemProxyChild = "BOX_EVENTS_TEST_SYSTEM_PROXY_CHILD"

// use_system_proxy skips loopback addresses, but Go's check is
// case-sensitive: a base_url of http://LOCALHOST:port, which Init accepts as
// loopback, went through HTTP_PROXY with the credentials in clear text.
func TestTransport_SystemProxyNeverGetsPlainHTTP(t *testing.T) {
	if os.Getenv(systemProxyChild) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTransport_SystemProxyNeverGetsPlainHTTP$", "-test.count=1")
		cmd.Env = append(os.Environ(), systemProxyChild+"=1", "HTTP_PROXY=http://proxy.example.net:3128", "NO_PROXY=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return
	}
	sim := boxsim.NewTest(t, boxsim.Options{})
	_, port, err := net.SplitHostPort(strings.TrimPrefix(sim.URL(), "http://"))
	require.NoError(t, err)
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]", "LOCALHOST"} {
		p := newPlugin(sim, "admin_logs_streaming")
		p.BaseURL = "http://" + host + ":" + port
		p.UseSystemProxy = true
		err := p.Init()
		if host != "LOCALHOST" {
			require.NoError(t, err, host)
			p.Stop()
			continue
		}
		require.ErrorContains(t, err, "proxy.example.net:3128", "the environment's proxy would get the credentials")
		require.ErrorContains(t, err, "clear text")
	}
}

// A proxy that cannot be worked out for a plain-http base_url (the
// environment's HTTP_PROXY does not parse) is an Init error that does not
// quote the proxy's URL, which may hold a password.
func TestCheckProxy_UnusableProxyNotQuoted(t *testing.T) {
	unusable := func(*http.Request) (*url.URL, error) {
		return nil, errors.New(`invalid proxy address "http://user:s3cret@proxy:bad"`)
	}
	err := checkProxy("http://127.0.0.1:8080", unusable)
	require.ErrorContains(t, err, "the proxy for base_url cannot be used")
	require.NotContains(t, err.Error(), "s3cret")
	require.NoError(t, checkProxy("https://api.box.com", unusable), "https goes through any proxy as a tunnel")
}
