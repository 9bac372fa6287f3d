package box_events

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/youmark/pkcs8"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// Every auth method, end to end through the plugin against the simulated
// Box: Init, Start, events reach the output exactly once and are committed,
// Stop (at cleanup).

func TestAuth_ClientCredentials(t *testing.T) {
	tests := []struct {
		name        string
		subjectType string
		subjectID   string
		stream      string
	}{
		// The service account reads the enterprise stream.
		{"enterprise subject", "enterprise", boxsim.DefaultEnterpriseID, "admin_logs_streaming"},
		// A user subject reads that user's stream, with the long poll.
		{"user subject", "user", boxsim.DefaultUserID, "all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 21})
			mock := mockClock()
			p := withMock(newPlugin(sim, tt.stream), mock)
			p.SubjectType, p.SubjectID = tt.subjectType, tt.subjectID
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)

			// One token serves the whole run: it is cached, not fetched per request.
			require.Equal(t, 1, sim.Grants(boxsim.GrantClientCredentials))
			reqs := sim.RequestLog(boxsim.EndpointToken)
			require.Len(t, reqs, 1)
			require.Equal(t, boxsim.GrantClientCredentials, reqs[0].Form.Get("grant_type"))
			require.Equal(t, tt.subjectType, reqs[0].Form.Get("box_subject_type"))
			require.Equal(t, tt.subjectID, reqs[0].Form.Get("box_subject_id"))
			require.Empty(t, reqs[0].Header.Get("Authorization"), "the secret goes in the form, as Box documents")
		})
	}
}

// A user's token cannot read the enterprise stream: the plugin says so
// clearly (403) instead of pretending the stream is empty.
func TestAuth_UserSubjectOnEnterpriseStream(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 22})
	sim.EmitEnterprise(3)
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mockClock())
	p.SubjectType, p.SubjectID = "user", boxsim.DefaultUserID
	acc, _ := run(t, p)
	require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
	require.Contains(t, errorTexts(acc)[0], "403 forbidden")
	// What to fix, in the error itself: the scope and the account (docs/AUTH.md).
	require.Contains(t, errorTexts(acc)[0], "Manage enterprise properties")
	require.Contains(t, errorTexts(acc)[0], "service account")
	require.Zero(t, acc.NMetrics())
	require.Equal(t, "0", committed(p))
}

// jwtTestKey is one RSA key for every JWT test: generating one takes long
// under the race detector.
var jwtTestKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

const (
	jwtKeyID      = "testkid-boxevents"
	jwtPassphrase = "jwtPassphrase-NOT-REAL-4c1e9"
)

// writeJWTConfig writes a Box app config file as the Developer Console
// generates it: the key as encrypted PKCS#8 PEM (encrypted with
// jwtPassphrase), and filePass as appAuth.passphrase.
func writeJWTConfig(t *testing.T, key *rsa.PrivateKey, filePass string) (path, keyPEM string) {
	t.Helper()
	der, err := pkcs8.MarshalPrivateKey(key, []byte(jwtPassphrase), nil)
	require.NoError(t, err)
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))
	cfg := map[string]any{
		"boxAppSettings": map[string]any{
			"clientID":     boxsim.DefaultClientID,
			"clientSecret": boxsim.DefaultClientSecret,
			"appAuth": map[string]any{
				"publicKeyID": jwtKeyID,
				"privateKey":  keyPEM,
				"passphrase":  filePass,
			},
		},
		"enterpriseID": boxsim.DefaultEnterpriseID,
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "box_config.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path, keyPEM
}

// jwtPlugin configures p for auth "jwt" with the config file at path.
func jwtPlugin(p *BoxEvents, path string) *BoxEvents {
	p.Auth = authJWT
	p.JWTConfigFile = path
	p.ClientID, p.ClientSecret = "", config.NewSecret(nil)
	p.SubjectType, p.SubjectID = "", ""
	return p
}

// jwtSegment decodes one base64url JSON segment of an assertion.
func jwtSegment(t *testing.T, assertion string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(assertion, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestAuth_JWT(t *testing.T) {
	key, err := jwtTestKey()
	require.NoError(t, err)
	tests := []struct {
		name        string
		filePass    string // appAuth.passphrase in the config file
		option      string // jwt_passphrase
		subjectType string
		subjectID   string
		stream      string
		alg         string
		wantSubType string
		wantSubID   string
	}{
		{
			name: "passphrase and enterprise from the file", filePass: jwtPassphrase,
			stream: "admin_logs_streaming", alg: "RS256",
			wantSubType: "enterprise", wantSubID: boxsim.DefaultEnterpriseID,
		},
		{
			// A passphrase kept in a secret store overrides the file's.
			name: "jwt_passphrase overrides a stale one in the file", filePass: "stale-passphrase", option: jwtPassphrase,
			stream: "admin_logs_streaming", alg: "RS512",
			wantSubType: "enterprise", wantSubID: boxsim.DefaultEnterpriseID,
		},
		{
			// The passphrase may be left out of the file altogether.
			name: "jwt_passphrase with none in the file", option: jwtPassphrase,
			subjectType: "enterprise", subjectID: boxsim.DefaultEnterpriseID,
			stream: "admin_logs_streaming", alg: "RS384",
			wantSubType: "enterprise", wantSubID: boxsim.DefaultEnterpriseID,
		},
		{
			name: "user subject reads the user stream", filePass: jwtPassphrase,
			subjectType: "user", subjectID: boxsim.DefaultUserID,
			stream: "all", alg: "RS256",
			wantSubType: "user", wantSubID: boxsim.DefaultUserID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{
				Seed:          23,
				JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey},
			})
			mock := mockClock()
			path, _ := writeJWTConfig(t, key, tt.filePass)
			p := jwtPlugin(withMock(newPlugin(sim, tt.stream), mock), path)
			p.SubjectType, p.SubjectID = tt.subjectType, tt.subjectID
			p.JWTAlgorithm = tt.alg
			if tt.option != "" {
				p.JWTPassphrase = config.NewSecret([]byte(tt.option))
			}
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)

			require.Equal(t, 1, sim.Grants(boxsim.GrantJWT))
			reqs := sim.RequestLog(boxsim.EndpointToken)
			require.Len(t, reqs, 1)
			require.Equal(t, boxsim.GrantJWT, reqs[0].Form.Get("grant_type"))
			assertion := reqs[0].Form.Get("assertion")
			header := jwtSegment(t, assertion, 0)
			require.Equal(t, jwtKeyID, header["kid"], "Box finds the public key by kid")
			require.Equal(t, tt.alg, header["alg"])
			claims := jwtSegment(t, assertion, 1)
			require.Equal(t, tt.wantSubType, claims["box_sub_type"])
			require.Equal(t, tt.wantSubID, claims["sub"])
			require.Equal(t, boxsim.DefaultClientID, claims["iss"])
		})
	}

	t.Run("wrong jwt_passphrase fails Init naming the file", func(t *testing.T) {
		sim := boxsim.NewTest(t, boxsim.Options{Seed: 24})
		path, _ := writeJWTConfig(t, key, jwtPassphrase)
		p := jwtPlugin(newPlugin(sim, "admin_logs_streaming"), path)
		p.JWTPassphrase = config.NewSecret([]byte("not-the-passphrase"))
		err := p.Init()
		require.ErrorContains(t, err, path)
		require.ErrorContains(t, err, "wrong passphrase")
		require.NotContains(t, err.Error(), "not-the-passphrase")
		require.Zero(t, sim.Requests(boxsim.EndpointToken), "Init makes no request")
	})
}

func TestAuth_OAuth2Refresh(t *testing.T) {
	// What the consent flow left in the file.
	const initial = "initialRefreshTokenFromConsent0123456789abcdefghijklmnopqrstuvwxyz"
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 25, RefreshTokens: []string{initial}})
	mock := mockClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "box_refresh_token")
	require.NoError(t, os.WriteFile(path, []byte(initial+"\n"), 0o600))

	p := withMock(newPlugin(sim, "all"), mock)
	p.Auth = authOAuth2Refresh
	p.RefreshToken = path
	p.SubjectType, p.SubjectID = "", ""
	acc, out := run(t, p)
	requireFlow(t, sim, p, mock, acc, out)

	// rotated checks that the file holds a new refresh token, the only one
	// Box still accepts, with no other file left behind, mode 0600.
	rotated := func(previous string) string {
		t.Helper()
		info, err := os.Stat(path)
		require.NoError(t, err)
		if runtime.GOOS != "windows" { // only the read-only bit exists there
			require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		current := strings.TrimSpace(string(data))
		require.NotEqual(t, previous, current, "Box's refresh tokens are single use: the file must rotate")
		require.Equal(t, []string{current}, sim.RefreshTokens())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.ElementsMatch(t, []string{"box_refresh_token", "box_refresh_token.lock"}, names,
			"no temporary file is left next to the token (the lock file says who owns it)")
		return current
	}
	current := rotated(initial)
	require.Equal(t, 1, sim.Grants(boxsim.GrantRefreshToken))

	// Expired access tokens force a refresh at the next request (a 401, then
	// a new token); each rotates the file and the stream goes on.
	for i := range 3 {
		sim.ExpireTokens()
		emit(sim, p, 2) // announced by the long poll; reading them meets the 401
		catchUp(t, sim, p, mock, out)
		require.Equal(t, 2+i, sim.Grants(boxsim.GrantRefreshToken))
		current = rotated(current)
	}
	require.Equal(t, sorted(sim.ProducedIDs(boxsim.StreamAll)), eventIDs(acc.GetTelegrafMetrics()))
	require.Empty(t, errorTexts(acc))
}

func TestAuth_DeveloperToken(t *testing.T) {
	const devToken = "developerTokenFromTheConsole0123456789AB"
	tests := []struct {
		name string
		kill func(*boxsim.Server)
	}{
		{"expired", (*boxsim.Server).ExpireTokens},
		{"revoked", (*boxsim.Server).RevokeTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 26, DeveloperTokens: []string{devToken}})
			mock := mockClock()
			p := withMock(newPlugin(sim, "all"), mock)
			p.Auth = authDeveloperToken
			p.ClientID, p.ClientSecret = "", config.NewSecret(nil)
			p.SubjectType, p.SubjectID = "", ""
			p.DeveloperToken = config.NewSecret([]byte(devToken))
			logger := &testutil.CaptureLogger{}
			p.Log = logger
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)
			require.Zero(t, sim.Requests(boxsim.EndpointToken), "a developer token is used as it is")
			last, ok := sim.LastRequest(boxsim.EndpointEvents)
			require.True(t, ok)
			require.Equal(t, "Bearer "+devToken, last.Header.Get("Authorization"))

			tt.kill(sim)
			emit(sim, p, 1) // announced by the long poll; reading it meets the 401
			pump(t, mock, out, 100*time.Millisecond, func() bool { return len(accErrors(acc)) > 0 })
			errs := errorTexts(acc)
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], "developer token expired")
			require.Contains(t, errs[0], "retrying in 5m0s")

			// It cannot be refreshed, so nothing is sent for the whole backoff:
			// no busy loop of 401s, no token requests.
			counts := func() [5]int {
				return [5]int{
					sim.Requests(boxsim.EndpointEvents), sim.Requests(boxsim.EndpointOptions),
					sim.Requests(boxsim.EndpointLongPoll), sim.Requests(boxsim.EndpointToken), len(accErrors(acc)),
				}
			}
			before := counts()
			eventRequests := sim.Requests(boxsim.EndpointEvents)
			for range 4 {
				mock.Add(time.Minute) // 4 of the 5 minutes
			}
			require.Never(t, func() bool { return counts() != before }, 300*time.Millisecond, 10*time.Millisecond)

			// After the backoff it tries once more and fails without sending
			// the refused token again; the failure streak was reported once.
			pump(t, mock, out, time.Second, func() bool {
				for _, m := range logger.Messages() {
					if strings.Contains(m.Text, "failed again (2 in a row)") && strings.Contains(m.Text, "developer token expired") {
						return true
					}
				}
				return false
			})
			require.Len(t, errorTexts(acc), 1)
			require.Equal(t, eventRequests, sim.Requests(boxsim.EndpointEvents))
			require.Equal(t, 8, int(acc.NMetrics()), "the event after the expiry is not read")
		})
	}
}

func TestAuth_AsUser(t *testing.T) {
	t.Run("service account reads a user's stream", func(t *testing.T) {
		sim := boxsim.NewTest(t, boxsim.Options{Seed: 27})
		mock := mockClock()
		p := withMock(newPlugin(sim, "all"), mock)
		p.AsUser = boxsim.DefaultUserID
		acc, out := run(t, p)
		requireFlow(t, sim, p, mock, acc, out)

		for _, ep := range []boxsim.Endpoint{boxsim.EndpointEvents, boxsim.EndpointOptions} {
			reqs := sim.RequestLog(ep)
			require.NotEmpty(t, reqs, ep)
			for _, req := range reqs {
				require.Equal(t, boxsim.DefaultUserID, req.Header.Get("As-User"), "%s %s", req.Method, req.Path)
			}
		}
	})

	t.Run("a user token may not act as another user", func(t *testing.T) {
		sim := boxsim.NewTest(t, boxsim.Options{Seed: 28})
		sim.EmitUser(2)
		p := withMock(newPlugin(sim, "all"), mockClock())
		p.SubjectType, p.SubjectID = "user", boxsim.DefaultUserID
		p.AsUser = "99999"
		acc, _ := run(t, p)
		require.Eventually(t, func() bool { return len(accErrors(acc)) > 0 }, 10*time.Second, time.Millisecond)
		require.Contains(t, errorTexts(acc)[0], "403 forbidden")
		require.Zero(t, acc.NMetrics())
	})
}

// Credential files readable by every user of the host are pointed out at
// Init; group read (root:telegraf 0640) is a normal setup and is not.
func TestAuth_WarnsOnExposedCredentialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits mean nothing on Windows: the plugin does not check them there (docs/AUTH.md)")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	key, err := jwtTestKey()
	require.NoError(t, err)
	tests := []struct {
		name      string
		configure func(t *testing.T, p *BoxEvents) string // returns the file
	}{
		{"jwt_config_file", func(t *testing.T, p *BoxEvents) string {
			path, _ := writeJWTConfig(t, key, jwtPassphrase)
			jwtPlugin(p, path)
			return path
		}},
		{"refresh_token_file", func(t *testing.T, p *BoxEvents) string {
			path := filepath.Join(t.TempDir(), "refresh_token")
			require.NoError(t, os.WriteFile(path, []byte("someRefreshToken\n"), 0o600))
			p.Auth, p.RefreshToken = authOAuth2Refresh, path
			return path
		}},
	}
	for _, tt := range tests {
		for _, mode := range []os.FileMode{0o600, 0o640, 0o644} {
			t.Run(fmt.Sprintf("%s %#o", tt.name, mode), func(t *testing.T) {
				sim := boxsim.NewTest(t, boxsim.Options{})
				p := newPlugin(sim, "all")
				log := &testutil.CaptureLogger{}
				p.Log = log
				path := tt.configure(t, p)
				require.NoError(t, os.Chmod(path, mode))
				require.NoError(t, p.Init())
				if mode&0o007 == 0 {
					require.Empty(t, log.Warnings())
					return
				}
				require.Len(t, log.Warnings(), 1)
				require.Contains(t, log.Warnings()[0], tt.name)
				require.Contains(t, log.Warnings()[0], "chmod 600")
			})
		}
	}
}

// Box's token endpoint answered 429 with a Retry-After of two minutes and
// the plugin asked again a second later: the wait it asked for was dropped
// with the rest of the answer. The simulator runs on the plugin's clock, so
// the times it recorded are the plugin's.
func TestAuth_TokenEndpointRetryAfterHonoured(t *testing.T) {
	mock := mockClock()
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 28, Clock: mock})
	sim.EmitEnterprise(3)
	sim.InjectFault(boxsim.EndpointToken, boxsim.Fault{Kind: boxsim.FaultRateLimit, RetryAfter: 2 * time.Minute})
	p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
	acc, out := run(t, p)
	pump(t, mock, out, time.Second, func() bool { return acc.NMetrics() == 3 })

	reqs := sim.RequestLog(boxsim.EndpointToken)
	require.Len(t, reqs, 2)
	require.Equal(t, boxsim.FaultRateLimit, reqs[0].Fault)
	require.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), 2*time.Minute, "asked again before Retry-After")
	require.Len(t, accErrors(acc), 1)
	require.ErrorContains(t, acc.FirstError(), "HTTP 429")
	require.ErrorContains(t, acc.FirstError(), "retrying in 2m0s")
}

// A secret read from a file keeps the file's last line ending (a Kubernetes
// secret made with --from-file, an env file, `echo` into a secret store):
// Box refused such a client secret ("invalid_client") and such a passphrase
// did not decrypt the key, with nothing in the error pointing at a newline.
// The line ending is dropped, as it already was for the developer token.
func TestAuth_SecretsWithLineEnding(t *testing.T) {
	for _, ending := range []string{"\n", "\r\n"} {
		t.Run(fmt.Sprintf("client_secret %q", ending), func(t *testing.T) {
			sim := boxsim.NewTest(t, boxsim.Options{Seed: 24})
			mock := mockClock()
			p := withMock(newPlugin(sim, "admin_logs_streaming"), mock)
			p.ClientSecret = config.NewSecret([]byte(boxsim.DefaultClientSecret + ending))
			acc, out := run(t, p)
			requireFlow(t, sim, p, mock, acc, out)
		})
	}
	t.Run("jwt_passphrase", func(t *testing.T) {
		key, err := jwtTestKey()
		require.NoError(t, err)
		sim := boxsim.NewTest(t, boxsim.Options{Seed: 25, JWTPublicKeys: map[string]*rsa.PublicKey{jwtKeyID: &key.PublicKey}})
		mock := mockClock()
		path, _ := writeJWTConfig(t, key, "")
		p := jwtPlugin(withMock(newPlugin(sim, "admin_logs_streaming"), mock), path)
		p.SubjectType, p.SubjectID = "enterprise", boxsim.DefaultEnterpriseID
		p.JWTPassphrase = config.NewSecret([]byte(jwtPassphrase + "\n"))
		acc, out := run(t, p)
		requireFlow(t, sim, p, mock, acc, out)
	})
}
