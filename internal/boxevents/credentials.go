package boxevents

import (
	"context"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Where credentials may go. The Authorization header (and As-User) are sent only to
//   - the base URL's own host (same hostname and port) over the base URL's scheme or https, or
//   - a Box host (box.com, box.net and their subdomains) over https.
//
// OPTIONS /2.0/events names a real-time server on another domain, documented as plain
// http://N.realtime.services.box.net/subscribe?channel=...; Box's SDKs send their bearer token
// there in clear text at every poll. The channel id in the URL is what the real-time server
// needs; the token is a credential for the whole API and must not cross the network unencrypted
// nor reach a host Box does not run.

// Upgrade policy for a real-time URL that is a Box host given as http.
const (
	// upgradeConnectTimeout bounds how long the https attempt may take to put the request on the
	// wire (dial, TLS handshake, write). A held long poll is normal after that, not before.
	upgradeConnectTimeout = 30 * time.Second
	// httpsRecheck is how long a host whose https could not connect is polled over http
	// without credentials before https is tried again.
	httpsRecheck = time.Hour
	// maxHTTPSHosts bounds the remembered hosts; Box uses a handful of real-time hosts.
	maxHTTPSHosts = 64
)

// mayAuthorize reports whether a request to u may carry the token (and As-User).
func (c *Client) mayAuthorize(u *url.URL) bool {
	if sameHostPort(u, c.events) && (u.Scheme == c.events.Scheme || u.Scheme == "https") {
		return true
	}
	return u.Scheme == "https" && isBoxHost(u.Hostname())
}

// sameHostPort reports whether a and b name the same hostname (case-insensitive) and port, the
// scheme's default port standing in for an absent one.
func sameHostPort(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// isBoxHost reports whether host is box.com, box.net or one of their subdomains: a suffix match
// on a dot boundary, every label non-empty and made of ASCII letters, digits and hyphens. So
// "evilbox.com", "box.com.evil.net" and "box.com." (a trailing dot, which resolvers may search
// for under other domains) are not Box hosts.
func isBoxHost(host string) bool {
	host = strings.ToLower(host)
	var rest string
	switch {
	case host == "box.com" || host == "box.net":
		return true
	case strings.HasSuffix(host, ".box.com"):
		rest = strings.TrimSuffix(host, ".box.com")
	case strings.HasSuffix(host, ".box.net"):
		rest = strings.TrimSuffix(host, ".box.net")
	default:
		return false
	}
	for label := range strings.SplitSeq(rest, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if (ch < 'a' || ch > 'z') && (ch < '0' || ch > '9') && ch != '-' {
				return false
			}
		}
	}
	return true
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// upgradeURL returns u over https when u is a Box host given as http on the default port, the
// form Box documents for its real-time servers. An explicit other port is not guessed at.
func upgradeURL(u *url.URL) (*url.URL, bool) {
	if u.Scheme != "http" || !isBoxHost(u.Hostname()) {
		return nil, false
	}
	if p := u.Port(); p != "" && p != "80" {
		return nil, false
	}
	up := *u
	up.Scheme = "https"
	up.Host = u.Hostname()
	return &up, true
}

// httpsWorthTrying reports whether https to host has not failed to connect within httpsRecheck.
func (c *Client) httpsWorthTrying(host string) bool {
	host = strings.ToLower(host)
	c.httpsMu.Lock()
	defer c.httpsMu.Unlock()
	failed, ok := c.httpsFailed[host]
	if !ok {
		return true
	}
	if c.clock.Now().Sub(failed) >= httpsRecheck {
		delete(c.httpsFailed, host)
		return true
	}
	return false
}

// noteHTTPS records whether https to host connected.
func (c *Client) noteHTTPS(host string, connected bool) {
	host = strings.ToLower(host)
	c.httpsMu.Lock()
	defer c.httpsMu.Unlock()
	if connected {
		delete(c.httpsFailed, host)
		return
	}
	now := c.clock.Now()
	if _, ok := c.httpsFailed[host]; !ok && len(c.httpsFailed) >= maxHTTPSHosts {
		for h, t := range c.httpsFailed {
			if now.Sub(t) >= httpsRecheck {
				delete(c.httpsFailed, h)
			}
		}
		// Still full: forget any one host; the cost is one more https attempt for it.
		for h := range c.httpsFailed {
			if len(c.httpsFailed) < maxHTTPSHosts {
				break
			}
			delete(c.httpsFailed, h)
		}
	}
	c.httpsFailed[host] = now
}

// connectProbe derives a context for the https attempt that records, in wrote, whether the
// request made it onto the wire, and that ends the attempt if it has not within
// upgradeConnectTimeout (on the client's clock). The transport must support
// net/http/httptrace, as *http.Transport does.
func (c *Client) connectProbe(ctx context.Context, wrote *atomic.Bool) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithCancelCause(ctx)
	t := c.clock.AfterFunc(upgradeConnectTimeout, func() {
		if !wrote.Load() {
			cancel(errConnectTimeout)
		}
	})
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
				t.Stop()
			}
		},
	}
	return httptrace.WithClientTrace(pctx, trace), func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
