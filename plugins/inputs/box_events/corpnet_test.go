package box_events

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// The corporate network between the collector and Box, as tests build it: a
// forward proxy that tunnels CONNECT and, like a TLS-inspecting corporate
// proxy, terminates each tunnel itself with a certificate its own CA signs
// for the host asked for, then serves the simulated Box there. The plugin
// reaches Box's real host names (api.box.com, N.realtime.services.box.net)
// only through it: its dialer refuses any other address.

// corporateCA is the CA a TLS-inspecting proxy signs its certificates with;
// file is its certificate in PEM, for tls_ca.
type corporateCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string

	mu    sync.Mutex
	leafs map[string]*tls.Certificate
}

func newCorporateCA(t *testing.T) *corporateCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Example Corp Inspection CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "corp-ca.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return &corporateCA{cert: cert, key: key, file: file, leafs: make(map[string]*tls.Certificate)}
}

// leaf returns a certificate for host signed by the CA.
func (ca *corporateCA) leaf(host string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leafs[host]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(ca.leafs) + 2)),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ca.leafs[host] = c
	return c, nil
}

// corpProxy is the corporate proxy. CONNECT tunnels are terminated with the
// CA's certificates and served by box; plain-http requests (absolute URLs)
// are served by box too.
type corpProxy struct {
	t   *testing.T
	ca  *corporateCA
	box http.Handler
	srv *httptest.Server
	// auth, when set, is the user:password the proxy wants (407 otherwise).
	auth string
	// challenge is the 407's Proxy-Authenticate; Basic when empty.
	challenge []string
	// connectStatus, when set, answers every CONNECT with it.
	connectStatus int
	// http1 offers only HTTP/1.1 inside the tunnels.
	http1 bool
	// blocked hosts get a 403 to CONNECT and to plain-http requests, with
	// the proxy's HTML page, as a URL filter answers.
	blocked map[string]bool

	inner *http.Server
	conns chan net.Conn

	mu       sync.Mutex
	tunnels  map[string]int // CONNECT target → count
	plain    map[string]int // plain-http host → count
	protos   map[string]int // ALPN protocol negotiated inside the tunnels
	refused  int            // CONNECTs answered 407 or connectStatus
	lastAuth string         // the last Proxy-Authorization seen
}

func newCorpProxy(t *testing.T, ca *corporateCA, box http.Handler) *corpProxy {
	t.Helper()
	cp := &corpProxy{
		t: t, ca: ca, box: box, conns: make(chan net.Conn),
		tunnels: make(map[string]int), plain: make(map[string]int), protos: make(map[string]int),
	}
	cp.inner = &http.Server{Handler: box, ReadHeaderTimeout: 10 * time.Second}
	ln := &chanListener{conns: cp.conns, done: make(chan struct{})}
	go cp.inner.Serve(ln) //nolint:errcheck // ends with the test
	cp.srv = httptest.NewServer(cp)
	t.Cleanup(func() {
		cp.srv.Close()
		cp.inner.Close()
	})
	return cp
}

// url is the proxy's URL, with userinfo when given.
func (cp *corpProxy) url(userinfo string) string {
	if userinfo == "" {
		return cp.srv.URL
	}
	return strings.Replace(cp.srv.URL, "http://", "http://"+userinfo+"@", 1)
}

func (cp *corpProxy) addr() string { return cp.srv.Listener.Addr().String() }

func (cp *corpProxy) authorized(r *http.Request) bool {
	got := r.Header.Get("Proxy-Authorization")
	cp.mu.Lock()
	cp.lastAuth = got
	cp.mu.Unlock()
	return cp.auth == "" || got == "Basic "+base64.StdEncoding.EncodeToString([]byte(cp.auth))
}

func (cp *corpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !cp.authorized(r) {
		cp.mu.Lock()
		cp.refused++
		cp.mu.Unlock()
		if cp.challenge == nil {
			w.Header().Set("Proxy-Authenticate", `Basic realm="Example Corp"`)
		}
		for _, c := range cp.challenge {
			w.Header().Add("Proxy-Authenticate", c)
		}
		w.WriteHeader(http.StatusProxyAuthRequired)
		return
	}
	if host, _, err := net.SplitHostPort(r.Host); (err == nil && cp.blocked[host]) || cp.blocked[r.Host] {
		cp.mu.Lock()
		cp.refused++
		cp.mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("<html><body>Access denied by Example Corp's web filter</body></html>")) //nolint:errcheck // the client may have gone
		return
	}
	if r.Method != http.MethodConnect {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		cp.mu.Lock()
		cp.plain[r.URL.Host]++
		cp.mu.Unlock()
		r.Header.Del("Proxy-Authorization")
		cp.box.ServeHTTP(w, r)
		return
	}
	if cp.connectStatus != 0 {
		cp.mu.Lock()
		cp.refused++
		cp.mu.Unlock()
		w.WriteHeader(cp.connectStatus)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	cp.mu.Lock()
	cp.tunnels[r.Host]++
	cp.mu.Unlock()
	if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
		conn.Close()
		return
	}
	protos := []string{"h2", "http/1.1"}
	if cp.http1 {
		protos = protos[1:]
	}
	tconn := tls.Server(&bufferedConn{Conn: conn, r: rw.Reader}, &tls.Config{
		NextProtos: protos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cp.ca.leaf(host)
		},
		MinVersion: tls.VersionTLS12,
	})
	go func() {
		if err := tconn.Handshake(); err != nil {
			tconn.Close()
			return
		}
		cp.mu.Lock()
		cp.protos[tconn.ConnectionState().NegotiatedProtocol]++
		cp.mu.Unlock()
		select {
		case cp.conns <- tconn:
		case <-time.After(10 * time.Second):
			tconn.Close()
		}
	}()
}

// proxySeen is what the proxy saw so far.
type proxySeen struct {
	tunnels, plain, protos map[string]int
	refused                int
}

func (cp *corpProxy) counts() proxySeen {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return proxySeen{tunnels: maps.Clone(cp.tunnels), plain: maps.Clone(cp.plain), protos: maps.Clone(cp.protos), refused: cp.refused}
}

// onlyVia makes p dial the proxy and nothing else: a request that bypassed
// the proxy fails, and is counted by the returned function.
// viaProxy points p at Box's API host through cp with userinfo (tls_ca the
// corporate CA), on a network where only cp can be reached (onlyVia).
func viaProxy(p *BoxEvents, ca *corporateCA, cp *corpProxy, userinfo string) (bypassed func() []string) {
	p.BaseURL = "https://api.box.com"
	p.TLSCA = ca.file
	p.HTTPProxyURL = cp.url(userinfo)
	return onlyVia(p, cp)
}

func onlyVia(p *BoxEvents, cp *corpProxy) (bypassed func() []string) {
	var (
		mu   sync.Mutex
		seen []string
	)
	p.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != cp.addr() {
			mu.Lock()
			seen = append(seen, addr)
			mu.Unlock()
			return nil, fmt.Errorf("test network: no route to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// bufferedConn reads first what the proxy's reader buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener hands the tunnels' TLS connections to the inner server.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("closed")
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (*chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// newCorpBox is the simulated Box behind the corporate proxy, at Box's own
// host names: OPTIONS hands out realtime URLs as Box documents them.
func newCorpBox(t *testing.T, seed uint64) *boxsim.Server {
	t.Helper()
	sim := boxsim.New(boxsim.Options{Seed: seed, RealtimeURLBase: "http://2.realtime.services.box.net"})
	t.Cleanup(sim.Close)
	return sim
}

// Behind a TLS-inspecting proxy (http_proxy_url, tls_ca = its CA) every
// request goes through the proxy: the token endpoint (client credentials,
// JWT and refresh token alike) and the events API on api.box.com, and the
// realtime server on its own host, over https with the token, HTTP/2
// negotiated inside the tunnels.
func TestCorpNet_InspectingProxy(t *testing.T) {
	key, err := jwtTestKey()
	require.NoError(t, err)
	const refreshToken = "initialRefreshTokenFromConsent0123456789abcdefghijklmnopqrstuvwxyz"
	for _, auth := range []string{authClientCredentials, authJWT, authOAuth2Refresh} {
		t.Run(auth, func(t *testing.T) {
			ca := newCorporateCA(t)
			sim := boxsim.New(boxsim.Options{Seed: 61, RealtimeURLBase: "http://2.realtime.services.box.net",
				JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey}, RefreshTokens: []string{refreshToken}})
			t.Cleanup(sim.Close)
			cp := newCorpProxy(t, ca, sim.Handler())

			mock := mockClock()
			p := withMock(newPlugin(sim, "all"), mock)
			switch auth {
			case authJWT:
				path, _ := writeJWTConfig(t, key, jwtPassphrase)
				jwtPlugin(p, path)
			case authOAuth2Refresh:
				path := filepath.Join(t.TempDir(), "box_refresh_token")
				require.NoError(t, os.WriteFile(path, []byte(refreshToken), 0o600))
				p.Auth, p.RefreshToken = authOAuth2Refresh, path
				p.SubjectType, p.SubjectID = "", ""
			}
			bypassed := viaProxy(p, ca, cp, "")
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)

			seen := cp.counts()
			tunnels, plain, protos := seen.tunnels, seen.plain, seen.protos
			require.Empty(t, bypassed())
			require.Empty(t, plain, "nothing went in clear text")
			require.Positive(t, tunnels["api.box.com:443"])
			require.Positive(t, tunnels["2.realtime.services.box.net:443"], "the realtime server is polled over https")
			require.Equal(t, map[string]int{"h2": protos["h2"]}, protos, "HTTP/2 in every tunnel")
			last, ok := sim.LastRequest(boxsim.EndpointLongPoll)
			require.True(t, ok)
			require.Equal(t, "2.realtime.services.box.net", last.Host)
			require.True(t, last.TLS)
			require.NotEmpty(t, last.Header.Get("Authorization"))
			tok, ok := sim.LastRequest(boxsim.EndpointToken)
			require.True(t, ok)
			require.Equal(t, "api.box.com", tok.Host)
			require.True(t, tok.TLS)
		})
	}
}

// A proxy that refuses the CONNECT tunnel (407: wrong or missing proxy
// credentials; 403: Box not allowed; 502: the proxy cannot reach Box) is
// reported as the proxy's answer, naming the proxy and what to check, and
// never its password: Go's transport says only "Forbidden" or "Bad
// Gateway", which read as Box's own answers after "box authentication
// failed". The stream backs off and moves no position.
func TestCorpNet_ProxyRefusesTunnel(t *testing.T) {
	for _, tt := range []struct {
		name     string
		userinfo string
		status   int
		want     string
	}{
		{"wrong password", "jdoe:wr0ng-Passw0rd", 0, "check the proxy's user and password"},
		{"no credentials", "", 0, "check the proxy's user and password"},
		{"Box not allowed", "jdoe:c0rrect-Passw0rd", http.StatusForbidden, "check that the proxy allows api.box.com:443"},
		{"proxy cannot reach Box", "jdoe:c0rrect-Passw0rd", http.StatusBadGateway, "check that the proxy allows api.box.com:443"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ca := newCorporateCA(t)
			sim := newCorpBox(t, 62)
			cp := newCorpProxy(t, ca, sim.Handler())
			cp.auth = "jdoe:c0rrect-Passw0rd"
			cp.connectStatus = tt.status
			mock := mockClock()
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			require.Empty(t, viaProxy(p, ca, cp, tt.userinfo)())
			acc, _ := run(t, p)
			require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
			msg := errorTexts(acc)[0]
			status := tt.status
			if status == 0 {
				status = http.StatusProxyAuthRequired
			}
			require.Contains(t, msg, fmt.Sprintf("the proxy %s answered %d %s", cp.addr(), status, http.StatusText(status)))
			require.Contains(t, msg, tt.want)
			require.NotContains(t, msg, "Passw0rd")
			require.Equal(t, "0", committed(p))
			require.Zero(t, sim.Requests(boxsim.EndpointToken))
			// Retried on the backoff, on the plugin's clock: not while it stands still.
			refused := cp.counts().refused
			time.Sleep(50 * time.Millisecond)
			require.Equal(t, refused, cp.counts().refused, "retried without waiting")
		})
	}
}

// idleCut stands for a proxy (or NAT) that closes a connection idle for
// idle on mock: a long poll held that long is cut without an answer.
func idleCut(box http.Handler, mock *clock.Mock, idle time.Duration, cuts *atomic.Int64) http.Handler {
	return idleAnswer(box, mock, idle, cuts, 0)
}

// idleAnswer is idleCut, but a status other than 0 is answered instead of
// cutting the connection, as a proxy carrying plain http answers its read
// timeout (Squid: 504 Gateway Timeout).
func idleAnswer(box http.Handler, mock *clock.Mock, idle time.Duration, cuts *atomic.Int64, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subscribe" {
			box.ServeHTTP(w, r)
			return
		}
		since := mock.Now()
		for mock.Since(since) < idle {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
		cuts.Add(1)
		if status != 0 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html><body>Gateway Timeout</body></html>")) //nolint:errcheck // the client may have gone
			return
		}
		panic(http.ErrAbortHandler) // the connection is closed without an answer
	})
}

// A proxy or NAT that closes connections idle for a few minutes (below Box's
// 610 s retry_timeout) cuts every long poll that sees no news. Such a cut is
// the network's idle timeout, not a failure: the stream is read and polled
// again at once, and nothing is reported; events still flow.
func TestCorpNet_IdleTimeoutCutsLongPolls(t *testing.T) {
	for _, http1 := range []bool{true, false} {
		t.Run(fmt.Sprintf("http1=%v", http1), func(t *testing.T) {
			ca := newCorporateCA(t)
			sim := newCorpBox(t, 63)
			mock := mockClock()
			var cuts atomic.Int64
			cp := newCorpProxy(t, ca, idleCut(sim.Handler(), mock, 2*time.Minute, &cuts))
			cp.http1 = http1

			p := withMock(newPlugin(sim, "all"), mock)
			viaProxy(p, ca, cp, "")
			acc, out := run(t, p)
			emit(sim, p, 5)
			catchUp(t, sim, p, mock, out)
			pump(t, mock, out, time.Second, func() bool { return cuts.Load() >= 3 }, "the long polls were not cut")
			require.Empty(t, errorTexts(acc))
			emit(sim, p, 3)
			catchUp(t, sim, p, mock, out)
			require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
			require.Empty(t, errorTexts(acc))
		})
	}
}

// systemProxyCorpChild marks the test binary re-executed for
// TestCorpNet_SystemProxy; its value is the NO_PROXY to use (Go reads the
// environment's proxy once per process).
const systemProxyCorpChild = "BOX_EVENTS_TEST_SYSTEM_PROXY_CORP_CHILD"

// use_system_proxy takes HTTPS_PROXY for the token endpoint, the events API
// and the realtime server, and NO_PROXY exempts hosts from it: here the
// realtime servers, reached directly (over https, with tls_ca).
func TestCorpNet_SystemProxy(t *testing.T) {
	noProxy, child := os.LookupEnv(systemProxyCorpChild)
	if !child {
		for _, np := range []string{"none", ".realtime.services.box.net"} {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCorpNet_SystemProxy$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), systemProxyCorpChild+"="+np, "HTTPS_PROXY=", "https_proxy=", "HTTP_PROXY=", "http_proxy=",
				"NO_PROXY=", "no_proxy=")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "NO_PROXY=%s: %s", np, out)
		}
		return
	}
	ca := newCorporateCA(t)
	sim := newCorpBox(t, 64)
	cp := newCorpProxy(t, ca, sim.Handler())
	// The realtime host reached without the proxy: a server of its own.
	direct := httptest.NewUnstartedServer(sim.Handler())
	direct.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return ca.leaf("2.realtime.services.box.net")
	}, MinVersion: tls.VersionTLS12}
	direct.StartTLS()
	t.Cleanup(direct.Close)
	t.Setenv("HTTPS_PROXY", cp.url("jdoe:s3cret"))
	if noProxy != "none" {
		t.Setenv("NO_PROXY", noProxy)
	}
	cp.auth = "jdoe:s3cret"

	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.BaseURL = "https://api.box.com"
	p.TLSCA = ca.file
	p.UseSystemProxy = true
	var (
		mu       sync.Mutex
		directly []string
	)
	p.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != cp.addr() {
			mu.Lock()
			directly = append(directly, addr)
			mu.Unlock()
			if addr != "2.realtime.services.box.net:443" {
				return nil, fmt.Errorf("test network: no route to %s", addr)
			}
			addr = direct.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)

	seen := cp.counts()
	tunnels, plain := seen.tunnels, seen.plain
	require.Empty(t, plain)
	require.Positive(t, tunnels["api.box.com:443"])
	mu.Lock()
	defer mu.Unlock()
	if noProxy == "none" {
		require.Positive(t, tunnels["2.realtime.services.box.net:443"])
		require.Empty(t, directly)
		return
	}
	require.Zero(t, tunnels["2.realtime.services.box.net:443"])
	require.Equal(t, "2.realtime.services.box.net:443", directly[0])
	last, ok := sim.LastRequest(boxsim.EndpointLongPoll)
	require.True(t, ok)
	require.True(t, last.TLS)
	require.NotEmpty(t, last.Header.Get("Authorization"))
}

// The timeout option bounds the token request too (a proxy that accepted the
// tunnel and then stalls, a token endpoint that hangs), and the error says
// the request timed out: it waited a fixed minute, then said only
// "context canceled".
func TestCorpNet_TokenRequestTimeout(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultHang})
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	p.Timeout = config.Duration(10 * time.Second)
	acc, _ := run(t, p)
	require.NoError(t, sim.WaitRequests(boxsim.EndpointToken, 1, 10*time.Second))
	sent := mock.Now()
	advanceUntil(t, mock, time.Second, func() bool { return len(accErrors(acc)) > 0 }, "no error")
	msg := errorTexts(acc)[0]
	require.Less(t, mock.Since(sent), 15*time.Second, "the token request was not bounded by timeout: %s", msg)
	require.Contains(t, msg, "no response within 10s")
}

// A web filter that blocks the realtime servers (CONNECT and plain http
// alike) leaves the stream polled every 5 s, and the one warning says why
// in a way the network team can act on: the proxy's refusal of the https
// tunnel, not only "the realtime server refused a long poll", which sent
// them to Box.
func TestCorpNet_RealtimeBlockedByProxy(t *testing.T) {
	ca := newCorporateCA(t)
	sim := newCorpBox(t, 65)
	cp := newCorpProxy(t, ca, sim.Handler())
	cp.blocked = map[string]bool{"2.realtime.services.box.net": true}
	mock := mockClock()
	p := withMock(newPlugin(sim, "all"), mock)
	p.BaseURL = "https://api.box.com"
	p.TLSCA = ca.file
	p.HTTPProxyURL = cp.url("")
	log := &testutil.CaptureLogger{}
	p.Log = log
	onlyVia(p, cp)
	acc, out := run(t, p)
	emit(sim, p, 5)
	catchUp(t, sim, p, mock, out)
	pump(t, mock, out, time.Second, func() bool { return len(log.Warnings()) > 0 }, "no warning")
	emit(sim, p, 3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
	require.Zero(t, sim.Requests(boxsim.EndpointLongPoll))

	warnings := log.Warnings()
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "polled every 5s")
	require.Contains(t, warnings[0], "the proxy "+cp.addr()+" answered 403 Forbidden to the tunnel to 2.realtime.services.box.net:443")
	require.NotContains(t, warnings[0], "channel=")
}

// cutOnce stands for a proxy that drops the tunnel in the middle of the
// first events page it carries.
func cutOnce(box http.Handler, cuts *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/2.0/events" || !cuts.CompareAndSwap(0, 1) {
			box.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		box.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])               //nolint:errcheck // cut below
		_ = http.NewResponseController(w).Flush() // best effort: cut below
		panic(http.ErrAbortHandler)
	})
}

// A proxy dropping the tunnel mid-page (HTTP/2 and HTTP/1.1): the page is
// asked again, every event arrives once, the position is Box's.
func TestCorpNet_ProxyCutsMidPage(t *testing.T) {
	for _, http1 := range []bool{true, false} {
		t.Run(fmt.Sprintf("http1=%v", http1), func(t *testing.T) {
			ca := newCorporateCA(t)
			sim := newCorpBox(t, 66)
			var cuts atomic.Int64
			cp := newCorpProxy(t, ca, cutOnce(sim.Handler(), &cuts))
			cp.http1 = http1
			mock := mockClock()
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			viaProxy(p, ca, cp, "")
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)
			require.EqualValues(t, 1, cuts.Load())
		})
	}
}

// A Windows shop's proxy that offers only NTLM or Negotiate cannot be
// passed with the user and password in http_proxy_url (Go's proxy support
// does Basic only): the 407 says so, instead of sending the user to check a
// password that is right.
func TestCorpNet_ProxyWithoutBasicAuth(t *testing.T) {
	ca := newCorporateCA(t)
	sim := newCorpBox(t, 67)
	cp := newCorpProxy(t, ca, sim.Handler())
	cp.auth = "\x00" // no Basic credentials pass: the proxy speaks NTLM and Negotiate only
	cp.challenge = []string{"Negotiate", "NTLM"}
	mock := mockClock()
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	viaProxy(p, ca, cp, "CORP%5Cjdoe:c0rrect-Passw0rd")
	acc, _ := run(t, p)
	require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
	msg := errorTexts(acc)[0]
	require.Contains(t, msg, "the proxy "+cp.addr()+" answered 407 Proxy Authentication Required")
	require.Contains(t, msg, "offers only Negotiate, NTLM")
	require.NotContains(t, msg, "check the proxy's user and password")
	require.NotContains(t, msg, "Passw0rd")
}

// A realtime server reached over plain http through the proxy (a host that
// is not Box's, polled without credentials) meets the proxy's read timeout
// as a 504 Gateway Timeout when no news came: that is the proxy giving up
// waiting, not a failure; the stream is read and polled again, nothing is
// reported.
func TestCorpNet_ProxyReadTimeoutOnPlainLongPoll(t *testing.T) {
	ca := newCorporateCA(t)
	sim := boxsim.New(boxsim.Options{Seed: 68, RealtimeURLBase: "http://realtime.example.net"})
	t.Cleanup(sim.Close)
	mock := mockClock()
	var cuts atomic.Int64
	cp := newCorpProxy(t, ca, idleAnswer(sim.Handler(), mock, 2*time.Minute, &cuts, http.StatusGatewayTimeout))
	p := withMock(newPlugin(sim, "all"), mock)
	viaProxy(p, ca, cp, "")
	acc, out := run(t, p)
	emit(sim, p, 5)
	catchUp(t, sim, p, mock, out)
	pump(t, mock, out, time.Second, func() bool { return cuts.Load() >= 3 }, "the long polls were not answered")
	require.Empty(t, errorTexts(acc))
	emit(sim, p, 3)
	catchUp(t, sim, p, mock, out)
	require.Equal(t, sorted(sim.ProducedIDs(simStream(p))), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
	require.Positive(t, cp.counts().plain["realtime.example.net"])
}

// A network failure on the way to the token endpoint (DNS, a refused
// connection) says what failed, not "box authentication failed", which
// sends the security team to check credentials that were never sent.
func TestCorpNet_NetworkFailureIsNotAnAuthFailure(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"dns", &net.DNSError{Err: "no such host", Name: "api.box.com", IsNotFound: true}, "lookup api.box.com: no such host"},
		{"refused", errors.New("connect: connection refused"), "connect: connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mock := mockClock()
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			p.BaseURL = "https://api.box.com"
			p.dialContext = func(context.Context, string, string) (net.Conn, error) { return nil, tt.err }
			acc, _ := run(t, p)
			require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
			msg := errorTexts(acc)[0]
			require.Contains(t, msg, tt.want)
			require.Contains(t, msg, "https://api.box.com/oauth2/token")
			require.NotContains(t, msg, "authentication failed")
		})
	}
}
