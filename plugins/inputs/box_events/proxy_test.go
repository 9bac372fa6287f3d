package box_events

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// An http_proxy_url that does not parse (a password with a '#' or a '%' not
// percent-encoded, a common slip with corporate passwords) is an Init error
// that names the option, never the URL: Telegraf logs Init errors, and the
// URL holds the proxy's password.
func TestTransport_UnparsableProxyURLNotQuoted(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, proxyURL := range []string{
		"http://jdoe:Pa#ss-w0rd@proxy.corp.example:3128",
		"http://jdoe:50%off-w0rd@proxy.corp.example:3128",
	} {
		p := newPlugin(sim, "admin_logs_streaming")
		p.BaseURL = "https://api.box.com"
		p.HTTPProxyURL = proxyURL
		err := p.Init()
		require.Error(t, err, proxyURL)
		require.ErrorContains(t, err, "http_proxy_url")
		require.NotContains(t, err.Error(), "w0rd", "the proxy's password is quoted")
	}
}

// http_proxy_url without a scheme ("proxy.corp.example:3128", as curl and
// HTTPS_PROXY accept it) parses as a URL of scheme "proxy.corp.example" and
// no host: Init accepted it, and every request then failed for ever with
// "proxyconnect tcp: dial tcp :0: connect: connection refused", which names
// neither the option nor the mistake. Init refuses it, naming the option.
func TestTransport_ProxyURLWithoutScheme(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, proxyURL := range []string{"proxy.corp.example:3128", "ftp://proxy.corp.example:3128", "http://"} {
		p := newPlugin(sim, "admin_logs_streaming")
		p.BaseURL = "https://api.box.com"
		p.HTTPProxyURL = proxyURL
		err := p.Init()
		if err == nil {
			// What it used to do: show what the user got to read instead.
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
			p.Stop()
			require.Fail(t, "Init accepted http_proxy_url "+proxyURL, "the first error: %s", errorTexts(acc)[0])
		}
		require.ErrorContains(t, err, "http_proxy_url", proxyURL)
		require.ErrorContains(t, err, "http://proxy.example.com:3128", proxyURL)
	}
	// Go's transport takes these.
	for _, proxyURL := range []string{"http://proxy.corp.example:3128", "https://proxy.corp.example", "socks5://127.0.0.1:1080",
		"socks5h://proxy.corp.example:1080", "HTTP://proxy.corp.example:3128"} {
		p := newPlugin(sim, "admin_logs_streaming")
		p.BaseURL = "https://api.box.com"
		p.HTTPProxyURL = proxyURL
		require.NoError(t, p.Init(), proxyURL)
		p.Stop()
	}
}
