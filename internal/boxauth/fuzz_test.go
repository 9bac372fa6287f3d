package boxauth

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseJWTConfig: no input panics or hangs the config parser, and a
// successful parse always yields a complete app with an RSA key.
func FuzzParseJWTConfig(f *testing.F) {
	data, err := os.ReadFile(fixturePath)
	require.NoError(f, err)
	_, key := loadFixture(f)
	f.Add(data)
	f.Add(bytes.Replace(data, []byte(fixturePassphrase), []byte("wrong"), 1))
	f.Add([]byte(`{"boxAppSettings":{"clientID":"a","clientSecret":"b","appAuth":{"publicKeyID":"c","privateKey":` +
		jsonString(pkcs1PEM(key)) + `}},"enterpriseID":12345678901234567890}`))
	f.Add([]byte(`{"boxAppSettings":{"clientID":"a","clientSecret":"b","appAuth":{"publicKeyID":"c","privateKey":` +
		jsonString(withIterations(f, encryptedPEM(f, key, "pw", nil), 1<<30)) + `,"passphrase":"pw"}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"enterpriseID":null,"userID":"1"}`))
	f.Add(make([]byte, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := parseJWTApp("fuzz.json", data, "")
		if err != nil {
			require.Nil(t, app)
			require.True(t, strings.HasPrefix(err.Error(), "box JWT config fuzz.json"), err.Error())
			return
		}
		require.NotNil(t, app.key)
		require.NotEmpty(t, app.clientID)
		require.NotEmpty(t, app.clientSecret)
		require.NotEmpty(t, app.keyID)
	})
}

func jsonString(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

// stubTransport answers every request with a fixed response.
type stubTransport struct {
	status      int
	contentType string
	body        []byte
}

func (s stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: s.status, Header: http.Header{"Content-Type": {s.contentType}},
		Body: io.NopCloser(bytes.NewReader(s.body)), Request: req}, nil
}

// FuzzTokenResponse feeds arbitrary token-endpoint answers through the CCG
// path (golang.org/x/oauth2's parsing plus our classification): no panic; a
// success carries a token; a 4xx other than 408/429 is always a refusal; a 5xx
// never is.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"t","expires_in":4123,"restricted_to":[],"issued_token_type":"bearer"}`))
	f.Add(200, "application/json", []byte(`{"expires_in":3600}`))
	f.Add(200, "application/json", []byte(`{"access_token":"t","expires_in":"soon"}`))
	f.Add(200, "text/plain", []byte(`access_token=t&expires_in=3600`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant","error_description":"Grant credentials are invalid"}`))
	f.Add(429, "application/json", []byte(`{"type":"error","status":429,"code":"rate_limit_exceeded"}`))
	f.Add(503, "text/html", []byte(`<html>down</html>`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: "https://box.invalid/oauth2/token", ClientID: "cid",
			ClientSecret: secretOf("csecret"), SubjectType: "enterprise", SubjectID: "1",
			HTTPClient: &http.Client{Transport: stubTransport{status, contentType, body}}})
		require.NoError(t, err)
		tok, err := s.Token(t.Context())
		if err == nil {
			require.NotEmpty(t, tok)
			require.True(t, status >= 200 && status < 300)
			return
		}
		var te *TokenError
		switch {
		case status >= 400 && status < 500 && status != 408 && status != 429:
			require.ErrorIs(t, err, ErrRefused)
		case status >= 500:
			require.NotErrorIs(t, err, ErrRefused)
		}
		if errors.As(err, &te) {
			if status >= 200 && status < 300 {
				// oauth2 reports "no access_token" without the status; it is recorded as 200.
				require.True(t, te.StatusCode == status || te.StatusCode == 200)
			} else {
				require.Equal(t, status, te.StatusCode)
			}
		}
	})
}
