package boxauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
)

func TestClientCredentials_FormFields(t *testing.T) {
	tests := []struct {
		name, subjectType, subjectID string
	}{
		{"enterprise service account", SubjectEnterprise, "1234567"},
		{"user", SubjectUser, "33445566"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
				if r.Header.Get("Authorization") != "" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
					writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
					return
				}
				writeJSON(t, w, http.StatusOK, accessToken("ccg-token", 4123))
			})
			s, err := ClientCredentials(ClientCredentialsConfig{
				TokenURL: srv.TokenURL(), ClientID: "cid", ClientSecret: secretOf("csecret"),
				SubjectType: tt.subjectType, SubjectID: tt.subjectID, HTTPClient: srv.Client(),
			})
			require.NoError(t, err)
			tok, err := s.Token(ctxT(t))
			require.NoError(t, err)
			require.Equal(t, "ccg-token", tok)
			require.Equal(t, []url.Values{{
				"grant_type":       {"client_credentials"},
				"client_id":        {"cid"},
				"client_secret":    {"csecret"},
				"box_subject_type": {tt.subjectType},
				"box_subject_id":   {tt.subjectID},
			}}, srv.Forms())
		})
	}
}

func TestClientCredentials_Validation(t *testing.T) {
	valid := ClientCredentialsConfig{ClientID: "cid", ClientSecret: secretOf("s"), SubjectType: "enterprise", SubjectID: "1"}
	tests := []struct {
		name   string
		modify func(*ClientCredentialsConfig)
		want   string
	}{
		{"client_id", func(c *ClientCredentialsConfig) { c.ClientID = "" }, "client_id required"},
		{"client_secret", func(c *ClientCredentialsConfig) { c.ClientSecret = nil }, "client_secret required"},
		{"subject_type", func(c *ClientCredentialsConfig) { c.SubjectType = "" }, "subject_type required"},
		{"subject_id", func(c *ClientCredentialsConfig) { c.SubjectID = "" }, "subject_id required"},
		{"all", func(c *ClientCredentialsConfig) { *c = ClientCredentialsConfig{} },
			"client_id, client_secret, subject_type, subject_id required"},
		{"bad subject_type", func(c *ClientCredentialsConfig) { c.SubjectType = "admin" }, `subject_type "admin" must be`},
		{"relative token_url", func(c *ClientCredentialsConfig) { c.TokenURL = "/oauth2/token" }, "token_url"},
		{"token_url with user info", func(c *ClientCredentialsConfig) { c.TokenURL = "https://u:p@box/x" }, "token_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			_, err := ClientCredentials(cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := ClientCredentials(valid)
	require.NoError(t, err)
}

func TestClientCredentials_SecretReadAtEachRequest(t *testing.T) {
	srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		writeJSON(t, w, http.StatusOK, accessToken("t", 3600))
	})
	var calls atomic.Int32
	secrets := []string{"first-secret", "rotated-secret"}
	s, err := ClientCredentials(ClientCredentialsConfig{
		TokenURL: srv.TokenURL(), ClientID: "cid", SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client(),
		ClientSecret: func() (string, error) { return secrets[min(int(calls.Add(1))-1, 1)], nil },
	})
	require.NoError(t, err)
	ctx := ctxT(t)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	s.Invalidate("t")
	_, err = s.Token(ctx)
	require.NoError(t, err)
	forms := srv.Forms()
	require.Len(t, forms, 2)
	require.Equal(t, "first-secret", forms[0].Get("client_secret"))
	require.Equal(t, "rotated-secret", forms[1].Get("client_secret"))

	// A failing secret store fails the fetch without a request.
	s2, err := ClientCredentials(ClientCredentialsConfig{
		TokenURL: srv.TokenURL(), ClientID: "cid", SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client(),
		ClientSecret: func() (string, error) { return "", errors.New("store locked") },
	})
	require.NoError(t, err)
	_, err = s2.Token(ctx)
	require.ErrorContains(t, err, "reading client_secret: store locked")
	require.Len(t, srv.Forms(), 2)
}

func TestClientCredentials_Errors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		refused     bool
		want        string
	}{
		{"invalid_grant", 400, "application/json",
			`{"error":"invalid_grant","error_description":"Grant credentials are invalid"}`, true,
			"box token endpoint refused the credentials: HTTP 400 invalid_grant: Grant credentials are invalid"},
		{"invalid_client", 401, "application/json",
			`{"error":"invalid_client","error_description":"The client credentials are invalid"}`, true,
			"HTTP 401 invalid_client: The client credentials are invalid"},
		{"unauthorized_client 403 without body", 403, "text/html", `<html>no</html>`, true, "refused the credentials: HTTP 403"},
		{"200 without access_token", 200, "application/json", `{"expires_in":3600,"token_type":"bearer"}`, true,
			"box token endpoint refused the credentials: HTTP 200: response has no access_token"},
		{"200 with error", 200, "application/json", `{"error":"invalid_grant","error_description":"nope"}`, true,
			"HTTP 200 invalid_grant: nope"},
		{"500 html", 500, "text/html", `<html>oops</html>`, false, "box token endpoint failed: HTTP 500"},
		{"503 json", 503, "application/json", `{"error":"temporarily_unavailable"}`, false,
			"box token endpoint failed: HTTP 503 temporarily_unavailable"},
		{"429", 429, "application/json", `{"type":"error","status":429,"code":"rate_limit_exceeded"}`, false, "HTTP 429"},
		{"200 html", 200, "text/html", `<html>proxy login</html>`, false, "box token request failed"},
		{"control characters", 400, "application/json",
			`{"error":"invalid_grant","error_description":"line1\nFAKE LOG LINE"}`, true, "line1 FAKE LOG LINE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				if _, err := w.Write([]byte(tt.body)); err != nil {
					t.Errorf("writing answer: %v", err)
				}
			})
			s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.TokenURL(), ClientID: "cid",
				ClientSecret: secretOf("s"), SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client()})
			require.NoError(t, err)
			_, err = s.Token(ctxT(t))
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, tt.refused, errors.Is(err, ErrRefused), err.Error())
		})
	}

	t.Run("network error", func(t *testing.T) {
		srv := newTokenServer(t, nil)
		srv.Close()
		s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.TokenURL(), ClientID: "cid",
			ClientSecret: secretOf("s"), SubjectType: "enterprise", SubjectID: "1"})
		require.NoError(t, err)
		_, err = s.Token(ctxT(t))
		require.ErrorContains(t, err, "box token request failed")
		require.NotErrorIs(t, err, ErrRefused)
	})
}

func TestClientCredentials_ExpiryFromExpiresIn(t *testing.T) {
	srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		writeJSON(t, w, http.StatusOK, accessToken("t", 600))
	})
	mock := clock.NewMock()
	s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.TokenURL(), ClientID: "cid",
		ClientSecret: secretOf("s"), SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client(), Clock: mock})
	require.NoError(t, err)
	ctx := ctxT(t)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	mock.Add(5*time.Minute - time.Second) // 600 s token: refresh 5 min ahead
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, srv.Count())
	mock.Add(time.Second)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.Count() == 2 && s.idle() }, 5*time.Second, time.Millisecond)
}

// A token endpoint's 429 (or 503) says in Retry-After when to ask again; it
// was dropped, and callers asked again after their own backoff (a second).
func TestTokenError_RetryAfter(t *testing.T) {
	date := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		date       string // the answer's Date header; "" for none
		want       time.Duration
	}{
		{name: "429 seconds", status: 429, retryAfter: "120", want: 2 * time.Minute},
		{name: "503 seconds", status: 503, retryAfter: "30", want: 30 * time.Second},
		// A date is read against Box's Date, not the local clock, which may be off.
		{name: "429 http date", status: 429, retryAfter: date.Add(90 * time.Second).Format(http.TimeFormat),
			date: date.Format(http.TimeFormat), want: 90 * time.Second},
		{name: "http date without a Date header", status: 429, retryAfter: date.Format(http.TimeFormat)},
		{name: "429 without header", status: 429},
		{name: "garbage", status: 429, retryAfter: "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.date != "" {
					w.Header().Set("Date", tt.date)
				} else {
					w.Header()["Date"] = nil // net/http adds one otherwise
				}
				writeJSON(t, w, tt.status, map[string]any{"type": "error", "status": tt.status, "code": "rate_limit_exceeded"})
			})
			s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: srv.TokenURL(), ClientID: "cid",
				ClientSecret: secretOf("s"), SubjectType: "enterprise", SubjectID: "1", HTTPClient: srv.Client()})
			require.NoError(t, err)
			_, err = s.Token(ctxT(t))
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrRefused)
			require.Equal(t, tt.want, RetryAfter(err))
			require.Equal(t, tt.want, RetryAfter(fmt.Errorf("wrapped: %w", err)))
		})
	}
	require.Zero(t, RetryAfter(errors.New("no token endpoint answer")))
}
