package boxauth

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// evilHost is where the redirecting token endpoint sends its callers.
const evilHost = "evil.example.net"

// locationSecret stands for whatever a Location URL may carry; it must not
// reach an error.
const locationSecret = "LOCATION-SECRET-q1w2"

// evilServer counts what reaches the redirect target.
type evilServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func (e *evilServer) Bodies() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.bodies...)
}

// redirectingEndpoint starts a token endpoint that answers status with a
// redirect to http://evil.example.net/..., and a second server standing in
// for evil.example.net. The returned client reaches both (its dialer maps
// evil.example.net to the second server), so a followed redirect would land
// there.
func redirectingEndpoint(t *testing.T, status int) (*tokenServer, *evilServer, *http.Client) {
	t.Helper()
	evil := &evilServer{}
	evil.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request: %v", err)
		}
		evil.mu.Lock()
		evil.bodies = append(evil.bodies, r.Method+" "+r.URL.String()+" "+string(body))
		evil.mu.Unlock()
		writeJSON(t, w, http.StatusOK, map[string]any{"access_token": "stolen", "expires_in": 3600,
			"refresh_token": "stolen-rt"})
	}))
	t.Cleanup(evil.Close)
	srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		w.Header().Set("Location", "http://user:pw@"+evilHost+"/collect?session="+locationSecret)
		w.WriteHeader(status)
	})
	evilAddr := evil.Listener.Addr().String()
	var dialer net.Dialer
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == evilHost+":80" {
			addr = evilAddr
		}
		return dialer.DialContext(ctx, network, addr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, evil, &http.Client{Transport: tr}
}

// TestRedirects_NeverFollowed: a token endpoint answering 307/308 (or any
// redirect) would have the request, client_secret, refresh token or JWT
// assertion included, re-posted to the host Location names. No request of
// this package may follow it.
func TestRedirects_NeverFollowed(t *testing.T) {
	data, _ := loadFixture(t)
	sources := []struct {
		name   string
		source func(t *testing.T, tokenURL string, hc *http.Client) *Source
		secret string
	}{
		{"client credentials", func(t *testing.T, tokenURL string, hc *http.Client) *Source {
			s, err := ClientCredentials(ClientCredentialsConfig{TokenURL: tokenURL, ClientID: "cid",
				ClientSecret: secretOf("ccg-secret-r7"), SubjectType: "enterprise", SubjectID: "1", HTTPClient: hc})
			require.NoError(t, err)
			return s
		}, "ccg-secret-r7"},
		{"jwt", func(t *testing.T, tokenURL string, hc *http.Client) *Source {
			s, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: tokenURL, HTTPClient: hc})
			require.NoError(t, err)
			return s
		}, fixtureClientSecret},
		{"refresh token", func(t *testing.T, tokenURL string, hc *http.Client) *Source {
			s, err := RefreshToken(RefreshConfig{TokenURL: tokenURL, ClientID: "cid", ClientSecret: secretOf("rt-secret-k2"),
				RefreshTokenFile: tokenFile(t, "refresh-token-value-z8", 0o600), HTTPClient: hc})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
			return s
		}, "refresh-token-value-z8"},
	}
	for _, src := range sources {
		for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
			t.Run(src.name+" "+http.StatusText(status), func(t *testing.T) {
				srv, evil, hc := redirectingEndpoint(t, status)
				s := src.source(t, srv.TokenURL(), hc)
				_, err := s.Token(ctxT(t))
				require.Empty(t, evil.Bodies(), "the redirect target received nothing")
				require.Equal(t, 1, srv.Count())
				require.Error(t, err)

				require.ErrorIs(t, err, ErrRefused, "a redirecting endpoint needs the operator")
				var te *TokenError
				require.ErrorAs(t, err, &te)
				require.Equal(t, status, te.StatusCode)
				require.Equal(t, evilHost, te.RedirectHost)
				require.ErrorContains(t, err, "box token endpoint answered HTTP "+strconv.Itoa(status)+
					" with a redirect to evil.example.net, which is not followed")
				for _, leak := range []string{locationSecret, "collect", "user:pw", src.secret, "eyJ"} {
					require.NotContains(t, err.Error(), leak)
				}
			})
		}
	}
}

// TestRedirects_CallerClientUntouched: the no-redirect policy applies to a
// copy; the caller's client (used for the API too) keeps its own.
func TestRedirects_CallerClientUntouched(t *testing.T) {
	hc := &http.Client{}
	_, err := ClientCredentials(ClientCredentialsConfig{ClientID: "cid", ClientSecret: secretOf("s"),
		SubjectType: "enterprise", SubjectID: "1", HTTPClient: hc})
	require.NoError(t, err)
	require.Nil(t, hc.CheckRedirect)
	require.Nil(t, http.DefaultClient.CheckRedirect)
}

func TestTokenError_Redirect(t *testing.T) {
	tests := []struct {
		err  *TokenError
		want string
	}{
		{&TokenError{StatusCode: 307, RedirectHost: "evil.example.net"},
			"box token endpoint answered HTTP 307 with a redirect to evil.example.net, which is not followed"},
		{&TokenError{StatusCode: 304}, "box token endpoint answered HTTP 304, a redirection, which is not followed"},
	}
	for _, tt := range tests {
		require.EqualError(t, tt.err, tt.want)
		require.ErrorIs(t, tt.err, ErrRefused)
	}
}
