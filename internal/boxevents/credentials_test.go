package boxevents

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNew_BaseURLScheme(t *testing.T) {
	auth := &fakeAuth{tokens: []string{testToken}}
	for _, base := range []string{
		"http://api.box.com", "http://api.box.com:443", "http://10.0.0.1:8080", "http://localhost.evil.net",
		"http://127.0.0.1.nip.io", "http://box.example",
	} {
		_, err := New(Config{Auth: auth, BaseURL: base})
		require.EqualError(t, err, "boxevents: base url must use https unless it is a loopback address", base)
	}
	for _, base := range []string{
		"https://api.box.com", "https://10.0.0.1:8443", "http://127.0.0.1:8080", "http://127.0.0.2", "http://[::1]:9000/box",
		"http://localhost:8080", "http://LOCALHOST",
	} {
		_, err := New(Config{Auth: auth, BaseURL: base})
		require.NoError(t, err, base)
	}
}

func TestClient_MayAuthorize(t *testing.T) {
	tests := []struct {
		base string
		url  string
		want bool
	}{
		{base: "https://api.box.com", url: "https://api.box.com/2.0/events", want: true},
		{base: "https://api.box.com", url: "https://API.Box.COM:443/x", want: true},
		{base: "https://api.box.com", url: "http://api.box.com/x"},
		{base: "https://api.box.com", url: "https://2.realtime.services.box.net/subscribe", want: true},
		{base: "https://api.box.com", url: "https://box.com/", want: true},
		{base: "https://api.box.com", url: "https://BOX.NET/", want: true},
		{base: "https://api.box.com", url: "https://realtime.box.com:8443/", want: true},
		{base: "https://api.box.com", url: "http://2.realtime.services.box.net/subscribe"},
		{base: "https://api.box.com", url: "https://evilbox.com/"},
		{base: "https://api.box.com", url: "https://evilbox.net/"},
		{base: "https://api.box.com", url: "https://box.com.evil.net/"},
		{base: "https://api.box.com", url: "https://realtime.box.com./"},
		{base: "https://api.box.com", url: "https://box.com./"},
		{base: "https://api.box.com", url: "https://a..box.com/"},
		{base: "https://api.box.com", url: "https://.box.com/"},
		{base: "https://api.box.com", url: "https://a_b.box.com/"},
		{base: "https://api.box.com", url: "https://xbox.co/"},
		{base: "https://api.box.com", url: "https://example.com/"},
		{base: "https://api.box.com", url: "https://127.0.0.1/"},
		{base: "https://api.example.com:8443", url: "https://api.example.com:8443/x", want: true},
		{base: "https://api.example.com:8443", url: "https://api.example.com/x"},
		{base: "https://api.example.com:8443", url: "http://api.example.com:8443/x"},
		{base: "http://127.0.0.1:8080", url: "http://127.0.0.1:8080/subscribe", want: true},
		{base: "http://127.0.0.1:8080", url: "https://127.0.0.1:8080/subscribe", want: true},
		{base: "http://127.0.0.1:8080", url: "http://127.0.0.1:8081/subscribe"},
		{base: "http://127.0.0.1:8080", url: "http://127.0.0.2:8080/subscribe"},
		{base: "http://127.0.0.1:8080", url: "http://localhost:8080/subscribe"},
		{base: "http://127.0.0.1", url: "http://127.0.0.1:80/", want: true},
		{base: "http://[::1]:9000", url: "http://[::1]:9000/", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.url, func(t *testing.T) {
			c, err := New(Config{Auth: &fakeAuth{tokens: []string{testToken}}, BaseURL: tt.base})
			require.NoError(t, err)
			u, err := url.Parse(tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.mayAuthorize(u))
		})
	}
}

func TestUpgradeURL(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{in: "http://2.realtime.services.box.net/subscribe?channel=a&stream_type=all",
			want: "https://2.realtime.services.box.net/subscribe?channel=a&stream_type=all"},
		{in: "http://2.realtime.services.box.net:80/subscribe?channel=a", want: "https://2.realtime.services.box.net/subscribe?channel=a"},
		{in: "http://2.realtime.services.box.net:8080/subscribe"},
		{in: "https://2.realtime.services.box.net/subscribe"},
		{in: "http://2.realtime.services.box.net.evil.net/subscribe"},
		{in: "http://evilbox.com/subscribe"},
		{in: "http://127.0.0.1:8080/subscribe"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			require.NoError(t, err)
			up, ok := upgradeURL(u)
			require.Equal(t, tt.want != "", ok)
			if ok {
				require.Equal(t, tt.want, up.String())
			}
			require.Equal(t, tt.in, u.String(), "the input is not modified")
		})
	}
}

// headerServer is a test server that records what each request carried.
type headerServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	tls     []bool
	status  atomic.Int32 // 0 answers new_change
	arrived chan struct{}
	hold    chan struct{} // when non-nil, requests are held until it closes or the client hangs up
}

func newHeaderServer(t *testing.T, ln net.Listener, secure bool, cert *tls.Certificate) *headerServer {
	t.Helper()
	s := &headerServer{arrived: make(chan struct{}, 16)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		s.tls = append(s.tls, r.TLS != nil)
		hold := s.hold
		s.mu.Unlock()
		s.arrived <- struct{}{}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		if st := int(s.status.Load()); st != 0 {
			w.WriteHeader(st)
			return
		}
		writeJSON(t, w, http.StatusOK, []byte(`{"message":"new_change"}`))
	}))
	if ln != nil {
		require.NoError(t, s.Listener.Close())
		s.Listener = ln
	}
	if secure {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// waitArrival waits until a request has arrived.
func (s *headerServer) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-s.arrived:
	case <-time.After(10 * time.Second): // a failsafe, never a synchronisation
		t.Fatal("no request arrived")
	}
}

func (s *headerServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// TestClient_LongPollForeignHost: a real-time URL on a host the token does not belong to (here a
// second loopback address, over plain http) is polled without Authorization and As-User, and
// without even asking for a token.
func TestClient_LongPollForeignHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	rt := newHeaderServer(t, ln, false, nil)
	h := setup(t, nil, func(c *Config) { c.AsUser = "777" })
	srv := RealtimeServer{URL: rt.URL + "/subscribe?channel=SECRETCHANNEL&stream_type=all"}

	msg, err := h.client.LongPoll(context.Background(), srv, "1152922976252290886")
	require.NoError(t, err)
	require.Equal(t, MessageNewChange, msg)
	reqs := rt.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "channel=SECRETCHANNEL&stream_type=all&stream_position=1152922976252290886", reqs[0].RawQuery)
	require.Empty(t, reqs[0].Header.Values("Authorization"))
	require.Empty(t, reqs[0].Header.Values("As-User"))
	require.Zero(t, h.auth.calls, "no token is fetched for a poll that does not carry one")
	require.Empty(t, h.requests())

	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		rt.status.Store(int32(status))
		_, err = h.client.LongPoll(context.Background(), srv, "12")
		require.ErrorIs(t, err, ErrRealtimeRefused)
		require.EqualError(t, err, "realtime server refused a long poll sent without credentials: "+
			strings.TrimPrefix(rt.URL, "http://")+" answered "+strconv.Itoa(status)+" "+strings.ToLower(http.StatusText(status)))
		require.False(t, IsAuth(err))
		require.False(t, IsRetryable(err))
		require.Empty(t, h.auth.Invalidated())
	}

	rt.status.Store(http.StatusServiceUnavailable)
	_, err = h.client.LongPoll(context.Background(), srv, "12")
	require.NotErrorIs(t, err, ErrRealtimeRefused)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
}

// boxNet is a fake of Box's real-time hosts: a dialer maps every named host's port 443 to a TLS
// server (whose certificate names the real-time hosts and some lookalikes) and port 80 to a
// plain one, so that the client's real host checks run against real connections.
type boxNet struct {
	https, http *headerServer
	httpsAddr   string // where port 443 goes; may differ from https's address
	dials443    atomic.Int32
	dials80     atomic.Int32
	pool        *x509.CertPool
}

func newBoxNet(t *testing.T) *boxNet {
	t.Helper()
	cert, pool := realtimeCert(t)
	b := &boxNet{pool: pool}
	b.https = newHeaderServer(t, nil, true, &cert)
	b.http = newHeaderServer(t, nil, false, nil)
	b.httpsAddr = b.https.Listener.Addr().String()
	return b
}

// client returns an http.Client that dials through b. trusted controls whether it trusts the
// TLS server's certificate.
func (b *boxNet) client(trusted bool) *http.Client {
	dialer := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if net.ParseIP(host) == nil {
				switch port {
				case "443":
					b.dials443.Add(1)
					addr = b.httpsAddr
				case "80":
					b.dials80.Add(1)
					addr = b.http.Listener.Addr().String()
				default:
					return nil, errors.New("test dialer: unexpected port " + port)
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if trusted {
		tr.TLSClientConfig.RootCAs = b.pool
	}
	return &http.Client{Transport: tr}
}

// realtimeCert makes a self-signed certificate for the real-time hosts and some lookalikes.
func realtimeCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "realtime test"},
		DNSNames:              []string{"*.realtime.services.box.net", "evilbox.com", "box.com.evil.net", "*.box.com.evil.net"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

const boxRealtimeURL = "http://2.realtime.services.box.net/subscribe?channel=SECRETCHANNEL&stream_type=all"

func TestClient_LongPollBoxHostUpgrade(t *testing.T) {
	t.Run("https works: the token goes over https", func(t *testing.T) {
		b := newBoxNet(t)
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true); c.AsUser = "777" })
		for range 2 {
			msg, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL}, "42")
			require.NoError(t, err)
			require.Equal(t, MessageNewChange, msg)
		}
		reqs := b.https.requests()
		require.Len(t, reqs, 2)
		for _, r := range reqs {
			require.Equal(t, "/subscribe", r.Path)
			require.Equal(t, "channel=SECRETCHANNEL&stream_type=all&stream_position=42", r.RawQuery)
			require.Equal(t, "Bearer "+testToken, r.Header.Get("Authorization"))
			require.Empty(t, r.Header.Values("As-User"), "As-User is never sent to the real-time server")
		}
		require.Empty(t, b.http.requests(), "nothing goes over plain http")
		require.Zero(t, b.dials80.Load())
	})

	t.Run("https refused: falls back to http without credentials, remembered for an hour", func(t *testing.T) {
		b := newBoxNet(t)
		b.httpsAddr = closedAddr(t)
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true); c.AsUser = "777" })
		poll := func() {
			t.Helper()
			msg, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL}, "42")
			require.NoError(t, err)
			require.Equal(t, MessageNewChange, msg)
		}
		poll()
		require.Equal(t, int32(1), b.dials443.Load(), "https was tried first")
		reqs := b.http.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, "channel=SECRETCHANNEL&stream_type=all&stream_position=42", reqs[0].RawQuery)
		require.Empty(t, reqs[0].Header.Values("Authorization"))
		require.Empty(t, reqs[0].Header.Values("As-User"))

		poll()
		require.Equal(t, int32(1), b.dials443.Load(), "the failed https attempt is not repeated at every poll")
		h.clock.Add(59 * time.Minute)
		poll()
		require.Equal(t, int32(1), b.dials443.Load())
		h.clock.Add(time.Minute)
		poll()
		require.Equal(t, int32(2), b.dials443.Load(), "https is tried again after an hour")
		for _, r := range b.http.requests() {
			require.Empty(t, r.Header.Values("Authorization"))
		}
		require.Empty(t, b.https.requests())
	})

	t.Run("untrusted certificate: falls back to http without credentials", func(t *testing.T) {
		b := newBoxNet(t)
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(false) })
		msg, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL}, "42")
		require.NoError(t, err)
		require.Equal(t, MessageNewChange, msg)
		require.Equal(t, int32(1), b.dials443.Load())
		require.Empty(t, b.https.requests(), "the handshake failed: no request reached the https server")
		reqs := b.http.requests()
		require.Len(t, reqs, 1)
		require.Empty(t, reqs[0].Header.Values("Authorization"))
	})

	t.Run("https hangs before the handshake: falls back after the connect timeout", func(t *testing.T) {
		b := newBoxNet(t)
		accepted := make(chan net.Conn, 4)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- conn // held open, never answered
			}
		}()
		t.Cleanup(func() {
			for {
				select {
				case conn := <-accepted:
					_ = conn.Close()
				default:
					return
				}
			}
		})
		b.httpsAddr = ln.Addr().String()
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true) })
		done := async(func() (string, error) {
			return h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL, RetryTimeout: 610}, "42")
		})
		var conn net.Conn
		select {
		case conn = <-accepted:
		case <-time.After(10 * time.Second): // a failsafe, never a synchronisation
			t.Fatal("no https connection")
		}
		defer conn.Close()
		h.clock.Add(upgradeConnectTimeout)
		msg, err := await(t, done)
		require.NoError(t, err)
		require.Equal(t, MessageNewChange, msg)
		reqs := b.http.requests()
		require.Len(t, reqs, 1)
		require.Empty(t, reqs[0].Header.Values("Authorization"))
	})

	t.Run("https connected and held: a timeout, not a fallback", func(t *testing.T) {
		b := newBoxNet(t)
		hold := make(chan struct{})
		t.Cleanup(func() { close(hold) })
		b.https.mu.Lock()
		b.https.hold = hold
		b.https.mu.Unlock()
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true) })
		done := async(func() (string, error) {
			return h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL, RetryTimeout: 60}, "42")
		})
		b.https.waitArrival(t)
		h.clock.Add(upgradeConnectTimeout) // the connect timeout must not cut a poll that is on the wire
		h.clock.Add(70*time.Second - upgradeConnectTimeout)
		msg, err := await(t, done)
		require.NoError(t, err)
		require.Equal(t, MessageTimeout, msg)
		require.Empty(t, b.http.requests())
		require.Equal(t, "Bearer "+testToken, b.https.requests()[0].Header.Get("Authorization"))
	})

	t.Run("credential-less fallback refused: ErrRealtimeRefused", func(t *testing.T) {
		b := newBoxNet(t)
		b.httpsAddr = closedAddr(t)
		b.http.status.Store(http.StatusUnauthorized)
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true) })
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL}, "42")
		require.ErrorIs(t, err, ErrRealtimeRefused)
		require.EqualError(t, err, "realtime server refused a long poll sent without credentials: "+
			"2.realtime.services.box.net answered 401 unauthorized, after the https upgrade could not connect: "+
			"dial tcp "+b.httpsAddr+": connect: connection refused")
		require.Empty(t, h.auth.Invalidated(), "the token was not sent, so it is not the token's fault")
	})

	t.Run("401 to the https poll that carried the token: invalidate", func(t *testing.T) {
		b := newBoxNet(t)
		b.https.status.Store(http.StatusUnauthorized)
		h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true) })
		_, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: boxRealtimeURL}, "42")
		require.NotErrorIs(t, err, ErrRealtimeRefused)
		require.EqualError(t, err, "GET https://2.realtime.services.box.net/subscribe (stream_position=42): 401 unauthorized")
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, []string{testToken}, h.auth.Invalidated())
		require.Empty(t, b.http.requests(), "an answer over https is not a reason to fall back")
	})
}

// TestClient_LongPollLookalikeHosts: hosts that merely look like Box's get no token, over https
// or http, and plain http ones are not upgraded.
func TestClient_LongPollLookalikeHosts(t *testing.T) {
	tests := []struct {
		url       string
		wantHTTPS bool
	}{
		{url: "https://evilbox.com/subscribe?channel=SECRETCHANNEL", wantHTTPS: true},
		{url: "https://box.com.evil.net/subscribe?channel=SECRETCHANNEL", wantHTTPS: true},
		{url: "https://2.realtime.services.box.net./subscribe?channel=SECRETCHANNEL", wantHTTPS: true},
		{url: "http://2.realtime.services.box.net.evil.net/subscribe?channel=SECRETCHANNEL"},
		{url: "http://evilbox.com/subscribe?channel=SECRETCHANNEL"},
		{url: "http://2.realtime.services.box.net./subscribe?channel=SECRETCHANNEL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			b := newBoxNet(t)
			h := setup(t, nil, func(c *Config) { c.HTTPClient = b.client(true); c.AsUser = "777" })
			msg, err := h.client.LongPoll(context.Background(), RealtimeServer{URL: tt.url}, "42")
			require.NoError(t, err)
			require.Equal(t, MessageNewChange, msg)
			var reqs []recorded
			if tt.wantHTTPS {
				reqs = b.https.requests()
				require.Empty(t, b.http.requests())
			} else {
				reqs = b.http.requests()
				require.Zero(t, b.dials443.Load(), "a lookalike is not upgraded to https")
				require.Empty(t, b.https.requests())
			}
			require.Len(t, reqs, 1)
			require.Empty(t, reqs[0].Header.Values("Authorization"))
			require.Empty(t, reqs[0].Header.Values("As-User"))
			require.Zero(t, h.auth.calls)
		})
	}
}

// closedAddr returns a local address nothing listens on, so that dialing it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestClient_HTTPSFailuresBounded(t *testing.T) {
	h := setup(t, nil)
	c := h.client
	for i := range maxHTTPSHosts + 10 {
		host := strconv.Itoa(i) + ".realtime.services.box.net"
		c.noteHTTPS(host, false)
		require.False(t, c.httpsWorthTrying(host), "a failure just noted is remembered")
		require.LessOrEqual(t, len(c.httpsFailed), maxHTTPSHosts)
	}
	c.noteHTTPS("1000.REALTIME.services.box.net", false)
	c.noteHTTPS("1000.realtime.services.box.net", true)
	require.True(t, c.httpsWorthTrying("1000.realtime.services.box.net"), "a success clears the failure")
	c.noteHTTPS("1000.realtime.services.box.net", false)
	require.Len(t, c.httpsFailed, maxHTTPSHosts)

	h.clock.Add(httpsRecheck)
	c.noteHTTPS("new.realtime.services.box.net", false)
	require.Len(t, c.httpsFailed, 1, "expired failures are swept when the map is full")
}
