package boxauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestErrors_NeverCarrySecrets drives every failure path with endpoints that
// echo the credentials they received (outside error/error_description) and
// checks that no secret, token, assertion or key fragment reaches an error.
func TestErrors_NeverCarrySecrets(t *testing.T) {
	const (
		clientSecret = "S3CRET-client-secret-zq81"
		accessTok    = "ACCESS-token-value-p4k2"
		refreshTok   = "REFRESH-token-value-m7w3"
		devTok       = "DEV-token-value-x9c5"
	)
	data, key := loadFixture(t)
	var fixture boxAppConfig
	require.NoError(t, json.Unmarshal(data, &fixture))
	fixturePEM := fixture.BoxAppSettings.AppAuth.PrivateKey
	require.Contains(t, fixturePEM, "BEGIN ENCRYPTED PRIVATE KEY")
	keyPEM := encryptedPEM(t, key, fixturePassphrase, nil)
	forbidden := []string{clientSecret, accessTok, refreshTok, devTok, fixtureClientSecret, fixturePassphrase,
		"eyJ", // base64 of `{"`: the start of any JWT
	}
	endpoints := []struct {
		status int
		ct     string
	}{{400, "application/json"}, {401, "text/html"}, {500, "text/html"}, {200, "application/json"}, {200, "text/html"}}
	// Three sources per endpoint and per redirect, then nine single failure cases.
	errs := make([]error, 0, 3*len(endpoints)+3+9)

	echo := func(status int, contentType string) *tokenServer {
		return newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, form url.Values) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			body := "<html>" + form.Encode() + accessTok + "</html>"
			if contentType == "application/json" {
				body = `{"error":"invalid_grant","error_description":"refused",` +
					`"access_token":"` + accessTok + `","echo":"` + form.Encode() + `"}`
			}
			if _, err := w.Write([]byte(body)); err != nil {
				t.Errorf("writing answer: %v", err)
			}
		})
	}
	// A redirect whose Location carries the credentials it received.
	redirect := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, form url.Values) {
		w.Header().Set("Location", "https://"+url.QueryEscape(clientSecret)+"@evil.example.net/?"+form.Encode())
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	servers := make([]*tokenServer, 0, len(endpoints)+1)
	for _, c := range endpoints {
		servers = append(servers, echo(c.status, c.ct))
	}
	servers = append(servers, redirect)
	for _, srv := range servers {
		ccg, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.TokenURL(), ClientID: "cid",
			ClientSecret: secretOf(clientSecret), SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client()})
		require.NoError(t, err)
		_, err = ccg.Token(ctxT(t))
		errs = append(errs, err)

		jwtSrc, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
		require.NoError(t, err)
		_, err = jwtSrc.Token(ctxT(t))
		errs = append(errs, err)

		path := tokenFile(t, refreshTok, 0o600)
		rs, err := RefreshToken(RefreshConfig{TokenURL: srv.TokenURL(), ClientID: "cid", ClientSecret: secretOf(clientSecret),
			RefreshTokenFile: path, HTTPClient: srv.Client()})
		require.NoError(t, err)
		_, err = rs.Token(ctxT(t))
		errs = append(errs, err)
	}

	// JWT clock-skew paths with an echoing endpoint: an offset within the
	// bound (retried), and a Date far beyond it (not retried).
	for _, date := range []string{"", "Thu, 01 Jan 2099 00:00:00 GMT"} {
		skew := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, form url.Values) {
			if date != "" {
				w.Header().Set("Date", date)
			}
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant",
				"error_description": "check the 'exp' claim", "assertion": form.Get("assertion")})
		})
		jwtSrc, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: skew.TokenURL(), HTTPClient: skew.Client()})
		require.NoError(t, err)
		_, err = jwtSrc.Token(ctxT(t))
		errs = append(errs, err)
	}

	// Refresh: the new token cannot be saved.
	box := newRotatingBox(t, refreshTok)
	inUse := tokenFile(t, refreshTok, 0o600)
	r := newTestRefresher(t, box.config(inUse))
	r.save = func(string, []byte, os.FileMode) error { return errors.New("read-only file system") }
	_, err := NewSource(r.fetch, nil).Token(ctxT(t))
	errs = append(errs, err)
	forbidden = append(forbidden, "rt-1", "at-1")

	// Refresh: the file is owned by another instance.
	_, err = RefreshToken(box.config(inUse))
	errs = append(errs, err)

	// JWT config files that fail to load, wrong passphrase, break inside the key string.
	for _, cfg := range []any{
		appConfig(keyPEM, "wrong passphrase", nil),
		strings.Replace(string(data), `\n`, "\n", 3),
		strings.Replace(string(data), "-----END", "-----BEGIN", 1),
		appConfig(truncatedPEM(t, keyPEM), fixturePassphrase, nil),
	} {
		_, err := JWT(JWTConfig{ConfigFile: writeConfig(t, cfg)})
		errs = append(errs, err)
	}

	// Developer token refused.
	dev := DeveloperToken(secretOf(devTok))
	dev.Invalidate(devTok)
	_, err = dev.Token(ctxT(t))
	errs = append(errs, err)

	for _, err := range errs {
		require.Error(t, err)
		msg := err.Error()
		for _, f := range forbidden {
			require.NotContains(t, msg, f)
		}
		requireNoKeyMaterial(t, msg, keyPEM)
		requireNoKeyMaterial(t, msg, fixturePEM)
	}
}
