package box_events

import (
	"testing"

	"github.com/stretchr/testify/require"

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
