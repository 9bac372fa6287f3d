package box_events

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// leakCase is one run of the plugin whose every output is searched for
// secrets afterwards.
type leakCase struct {
	t       *testing.T
	sim     *boxsim.Server
	mock    *clock.Mock
	p       *BoxEvents
	log     *testutil.CaptureLogger
	acc     *testutil.Accumulator
	out     *output
	secrets map[string]string // secret -> what it is
	texts   []string          // other text the plugin produced (Init errors)
}

func newLeakCase(t *testing.T, opts boxsim.Options, stream string) *leakCase {
	opts.Seed = 31
	sim := boxsim.NewTest(t, opts)
	mock := mockClock()
	log := &testutil.CaptureLogger{Name: "inputs.box_events"}
	p := withMock(newPlugin(sim, stream), mock)
	p.Log = log
	p.StateFile = filepath.Join(t.TempDir(), "box.state")
	c := &leakCase{t: t, sim: sim, mock: mock, p: p, log: log, secrets: make(map[string]string)}
	c.secret("client secret", boxsim.DefaultClientSecret)
	return c
}

func (c *leakCase) secret(what, value string) {
	if value = strings.TrimSpace(value); value != "" {
		c.secrets[value] = what
	}
}

// secretPEM registers every line of a PEM key, and the key's private
// exponent in decimal and base64 (what a struct dump would print).
func (c *leakCase) secretPEM(keyPEM string, key *rsa.PrivateKey) {
	for _, line := range strings.Split(keyPEM, "\n") {
		if !strings.HasPrefix(line, "-----") && len(line) >= 16 {
			c.secret("PEM key line", line)
		}
	}
	c.secret("private exponent", key.D.String())
	c.secret("private exponent (base64)", base64.StdEncoding.EncodeToString(key.D.Bytes()))
}

func (c *leakCase) start() {
	c.t.Helper()
	c.acc, c.out = run(c.t, c.p)
}

// flow reads events end to end, as a healthy run would.
func (c *leakCase) flow() {
	c.t.Helper()
	requireFlow(c.t, c.sim, c.p, c.mock, c.acc, c.out)
}

// more emits events and waits until they are committed.
func (c *leakCase) more() {
	c.t.Helper()
	emit(c.sim, c.p, 2)
	catchUp(c.t, c.sim, c.p, c.mock, c.out)
}

// failsWith waits until the plugin reports an error containing want.
func (c *leakCase) failsWith(want string) {
	c.t.Helper()
	pump(c.t, c.mock, c.out, 100*time.Millisecond, func() bool {
		for _, text := range errorTexts(c.acc) {
			if strings.Contains(text, want) {
				return true
			}
		}
		return false
	}, "no error containing %q", want)
}

// harvest adds every credential the simulator saw on the wire: bearer
// tokens, client secrets, refresh tokens, JWT assertions, realtime channel
// ids, and the refresh tokens it still accepts.
func (c *leakCase) harvest() {
	for _, ep := range []boxsim.Endpoint{boxsim.EndpointEvents, boxsim.EndpointOptions, boxsim.EndpointLongPoll, boxsim.EndpointToken} {
		for _, req := range c.sim.RequestLog(ep) {
			if auth := req.Header.Get("Authorization"); auth != "" {
				_, token, _ := strings.Cut(auth, " ")
				c.secret("access token sent to "+string(ep), token)
			}
			c.secret("realtime channel id", req.Query.Get("channel"))
			for _, field := range []string{"client_secret", "refresh_token", "assertion"} {
				c.secret(field+" posted to the token endpoint", req.Form.Get(field))
			}
		}
	}
	for _, rt := range c.sim.RefreshTokens() {
		c.secret("refresh token issued by Box", rt)
	}
}

// check stops the plugin and searches every log line (all levels), every
// reported error, every metric and the state file for every secret.
func (c *leakCase) check() {
	t := c.t
	t.Helper()
	c.p.Stop()
	c.harvest()
	require.NotEmpty(t, c.secrets)

	msgs := c.log.Messages()
	texts := make([]string, 0, len(msgs)+len(c.texts)+1)
	for _, m := range msgs {
		texts = append(texts, "log: "+m.String())
	}
	if c.acc != nil {
		texts = append(texts, prefixed("error: ", errorTexts(c.acc))...)
		for _, m := range c.acc.GetTelegrafMetrics() {
			for k, v := range m.Tags() {
				texts = append(texts, "tag "+k+": "+v)
			}
			for k, v := range m.Fields() {
				texts = append(texts, fmt.Sprintf("field %s: %v", k, v))
			}
		}
	}
	if data, err := os.ReadFile(c.p.StateFile); err == nil {
		texts = append(texts, "state file: "+string(data))
	}
	texts = append(texts, c.texts...)
	require.NotEmpty(t, texts)

	for _, text := range texts {
		// Some errors URL-encode what they quote.
		unescaped, err := url.QueryUnescape(text)
		if err != nil {
			unescaped = text
		}
		for secret, what := range c.secrets {
			if strings.Contains(text, secret) || strings.Contains(unescaped, secret) {
				t.Errorf("%s leaked in %q", what, text)
			}
		}
	}
}

func prefixed(prefix string, texts []string) []string {
	out := make([]string, 0, len(texts))
	for _, s := range texts {
		out = append(out, prefix+s)
	}
	return out
}

// TestSecrets_NeverLeak runs every auth method through its success and
// failure paths with debug logging and a state_file, then checks that no
// credential (client secret, developer token, JWT passphrase and key,
// access, refresh and assertion tokens seen on the wire, realtime channel
// ids) shows up in logs, errors, metrics or the state file.
func TestSecrets_NeverLeak(t *testing.T) {
	key, err := jwtTestKey()
	require.NoError(t, err)
	jwtKeys := map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey}

	// jwt configures c for auth "jwt" and registers the key material.
	jwt := func(c *leakCase) {
		path, keyPEM := writeJWTConfig(c.t, key, "")
		jwtPlugin(c.p, path)
		c.p.JWTPassphrase = config.NewSecret([]byte(jwtPassphrase))
		c.secret("JWT passphrase", jwtPassphrase)
		c.secretPEM(keyPEM, key)
	}
	const initialRefresh = "leakInitialRefreshToken0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
	refresh := func(c *leakCase) {
		path := filepath.Join(c.t.TempDir(), "refresh_token")
		require.NoError(c.t, os.WriteFile(path, []byte(initialRefresh+"\n"), 0o600))
		c.p.Auth = authOAuth2Refresh
		c.p.RefreshToken = path
		c.p.SubjectType, c.p.SubjectID = "", ""
		c.secret("initial refresh token", initialRefresh)
	}
	const devToken = "leakDeveloperToken0123456789abcdefghij"
	developer := func(c *leakCase) {
		c.p.Auth = authDeveloperToken
		c.p.ClientID, c.p.ClientSecret = "", config.NewSecret(nil)
		c.p.SubjectType, c.p.SubjectID = "", ""
		c.p.DeveloperToken = config.NewSecret([]byte(devToken))
		c.secret("developer token", devToken)
	}

	tests := []struct {
		name   string
		opts   boxsim.Options
		stream string
		run    func(c *leakCase)
	}{
		{"client_credentials: 401 mid-stream, expired and revoked tokens", boxsim.Options{}, "admin_logs_streaming", func(c *leakCase) {
			c.start()
			c.flow()
			c.sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultUnauthorized})
			c.more()
			c.sim.ExpireTokens()
			c.more()
			c.sim.RevokeTokens()
			c.more()
		}},
		{"client_credentials: 401 on the long poll", boxsim.Options{}, "all", func(c *leakCase) {
			c.sim.InjectFault(boxsim.EndpointLongPoll, boxsim.Fault{Kind: boxsim.FaultUnauthorized})
			c.start()
			c.failsWith("401")
			c.more()
		}},
		{"client_credentials: wrong secret", boxsim.Options{}, "admin_logs_streaming", func(c *leakCase) {
			const wrong = "wrongClientSecretValue-9f8e7d6c"
			c.p.ClientSecret = config.NewSecret([]byte(wrong))
			c.secret("wrong client secret", wrong)
			c.start()
			c.failsWith("invalid_grant")
		}},
		{"client_credentials: token endpoint 200 without a token", boxsim.Options{}, "admin_logs_streaming", func(c *leakCase) {
			c.sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultNoAccessToken})
			c.start()
			c.failsWith("no access_token")
		}},
		{"jwt: expired tokens and a 401 mid-stream", boxsim.Options{JWTPublicKeys: jwtKeys}, "admin_logs_streaming", func(c *leakCase) {
			jwt(c)
			c.start()
			c.flow()
			c.sim.ExpireTokens()
			c.more()
			c.sim.InjectFault(boxsim.EndpointEvents, boxsim.Fault{Kind: boxsim.FaultUnauthorized})
			c.more()
		}},
		{"jwt: public key not registered", boxsim.Options{}, "admin_logs_streaming", func(c *leakCase) {
			jwt(c)
			c.start()
			c.failsWith("invalid_grant")
		}},
		{"jwt: wrong jwt_passphrase", boxsim.Options{JWTPublicKeys: jwtKeys}, "admin_logs_streaming", func(c *leakCase) {
			jwt(c)
			const wrong = "wrongJWTPassphrase-0a1b2c3d"
			c.p.JWTPassphrase = config.NewSecret([]byte(wrong))
			c.secret("wrong JWT passphrase", wrong)
			err := c.p.Init()
			require.Error(c.t, err)
			c.texts = append(c.texts, "Init: "+err.Error())
		}},
		{"oauth2_refresh: rotation on expired tokens", boxsim.Options{RefreshTokens: []string{initialRefresh}}, "all", func(c *leakCase) {
			refresh(c)
			c.start()
			c.flow()
			c.sim.ExpireTokens()
			c.more()
		}},
		{"oauth2_refresh: refresh refused after revocation", boxsim.Options{RefreshTokens: []string{initialRefresh}}, "all", func(c *leakCase) {
			refresh(c)
			c.start()
			c.flow()
			c.harvest() // the rotated refresh tokens, before Box forgets them
			c.sim.RevokeTokens()
			emit(c.sim, c.p, 1)
			c.failsWith("box refused the refresh token")
		}},
		{"developer_token: revoked", boxsim.Options{DeveloperTokens: []string{devToken}}, "all", func(c *leakCase) {
			developer(c)
			c.start()
			c.flow()
			c.sim.RevokeTokens()
			emit(c.sim, c.p, 1)
			c.failsWith("developer token expired")
		}},
		{"developer_token: unknown token", boxsim.Options{}, "all", func(c *leakCase) {
			developer(c)
			c.start()
			c.failsWith("developer token expired")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newLeakCase(t, tt.opts, tt.stream)
			tt.run(c)
			c.check()
		})
	}
}
