package boxsim

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServer_TokenClientCredentials(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
		wantDesc   string
		enterprise bool
	}{
		{name: "enterprise", form: ccgForm("enterprise", DefaultEnterpriseID), wantStatus: http.StatusOK, enterprise: true},
		{name: "user", form: ccgForm("user", DefaultUserID), wantStatus: http.StatusOK},
		{name: "wrong secret", form: with(ccgForm("enterprise", DefaultEnterpriseID), "client_secret", "nope"),
			wantStatus: http.StatusBadRequest, wantError: "invalid_grant", wantDesc: "Grant credentials are invalid"},
		{name: "unknown client", form: with(ccgForm("enterprise", DefaultEnterpriseID), "client_id", "nope"),
			wantStatus: http.StatusBadRequest, wantError: "invalid_client"},
		{name: "other enterprise", form: ccgForm("enterprise", "999"),
			wantStatus: http.StatusBadRequest, wantError: "invalid_grant", wantDesc: "Grant credentials are invalid"},
		{name: "other user", form: ccgForm("user", "999"), wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "bad subject type", form: ccgForm("group", DefaultEnterpriseID), wantStatus: http.StatusBadRequest, wantError: "invalid_grant"},
		{name: "missing grant_type", form: with(ccgForm("enterprise", DefaultEnterpriseID), "grant_type", ""),
			wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
		{name: "unknown grant_type", form: with(ccgForm("enterprise", DefaultEnterpriseID), "grant_type", "password"),
			wantStatus: http.StatusBadRequest, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			status, header, body := h.postToken(tt.form)
			require.Equal(t, tt.wantStatus, status, body)
			require.Equal(t, h.clock.Now().UTC().Format(http.TimeFormat), header.Get("Date"), "Date follows the clock")
			if tt.wantError != "" {
				require.Equal(t, tt.wantError, body["error"])
				if tt.wantDesc != "" {
					require.Equal(t, tt.wantDesc, body["error_description"])
				}
				require.Zero(t, h.sim.Grants(GrantClientCredentials))
				return
			}
			require.Len(t, body["access_token"], 32)
			require.InDelta(t, 3600, body["expires_in"], 0)
			require.Equal(t, "bearer", body["token_type"])
			require.Equal(t, make([]any, 0), body["restricted_to"])
			require.NotContains(t, body, "refresh_token", "server auth has no refresh token")
			require.Equal(t, 1, h.sim.Grants(GrantClientCredentials))

			status, _ = h.getEvents(body["access_token"].(string), url.Values{"stream_type": {"admin_logs"}})
			if tt.enterprise {
				require.Equal(t, http.StatusOK, status)
			} else {
				require.Equal(t, http.StatusForbidden, status)
			}
			last, ok := h.sim.LastRequest(EndpointToken)
			require.True(t, ok)
			require.Equal(t, tt.form.Get("box_subject_type"), last.Form.Get("box_subject_type"))
		})
	}

	h := newHarness(t, Options{})
	status, _, _ := h.do(t.Context(), http.MethodGet, "/oauth2/token", nil, nil)
	require.Equal(t, http.StatusMethodNotAllowed, status)
}

func TestServer_TokenExpiry(t *testing.T) {
	h := newHarness(t, Options{TokenTTL: 10 * time.Minute})
	_, _, body := h.postToken(ccgForm("user", DefaultUserID))
	require.InDelta(t, 600, body["expires_in"], 0)
	token := body["access_token"].(string)
	status, _ := h.getEvents(token, nil)
	require.Equal(t, http.StatusOK, status)
	h.clock.Add(10 * time.Minute)
	status, _ = h.getEvents(token, nil)
	require.Equal(t, http.StatusUnauthorized, status)
}

func TestServer_TokenRefreshRotation(t *testing.T) {
	h := newHarness(t, Options{RefreshTokens: []string{"initial-refresh-token"}})
	refresh := func(rt string) (int, map[string]any) {
		status, _, body := h.postToken(url.Values{
			"grant_type": {GrantRefreshToken}, "refresh_token": {rt},
			"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		})
		return status, body
	}

	status, body := refresh("initial-refresh-token")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "bearer", body["token_type"])
	require.InDelta(t, 3600, body["expires_in"], 0)
	next := body["refresh_token"].(string)
	require.Len(t, next, 64)
	require.Equal(t, []string{next}, h.sim.RefreshTokens())
	status, _ = h.getEvents(body["access_token"].(string), nil)
	require.Equal(t, http.StatusOK, status)

	status, body = refresh("initial-refresh-token")
	require.Equal(t, http.StatusBadRequest, status, "the old refresh token dies at once")
	require.Equal(t, "invalid_grant", body["error"])

	status, body = refresh(next)
	require.Equal(t, http.StatusOK, status)
	require.NotEqual(t, next, body["refresh_token"])
	require.Equal(t, 2, h.sim.Grants(GrantRefreshToken))

	h.sim.AddRefreshToken("seeded")
	h.clock.Add(61 * 24 * time.Hour)
	status, _ = refresh("seeded")
	require.Equal(t, http.StatusBadRequest, status, "refresh tokens live 60 days")
	require.Empty(t, h.sim.RefreshTokens())
}

func with(v url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, vals := range v {
		out[k] = vals
	}
	if value == "" {
		out.Del(key)
	} else {
		out.Set(key, value)
	}
	return out
}
