package boxsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// signJWT builds a compact JWS with crypto/rsa only, like the Box SDKs do.
func signJWT(t *testing.T, key *rsa.PrivateKey, alg, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	var hash crypto.Hash
	var digest []byte
	switch alg {
	case "RS384":
		sum := sha512.Sum384([]byte(input))
		hash, digest = crypto.SHA384, sum[:]
	case "RS512":
		sum := sha512.Sum512([]byte(input))
		hash, digest = crypto.SHA512, sum[:]
	default:
		sum := sha256.Sum256([]byte(input))
		hash, digest = crypto.SHA256, sum[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, hash, digest)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jwtForm(assertion string) url.Values {
	return url.Values{
		"grant_type": {GrantJWT}, "assertion": {assertion},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
	}
}

func TestServer_TokenJWT(t *testing.T) {
	keys := testKeys()
	validClaims := func(now time.Time) map[string]any {
		return map[string]any{
			"iss": DefaultClientID, "sub": DefaultEnterpriseID, "box_sub_type": "enterprise",
			"aud": "https://api.box.com/oauth2/token", "jti": "0123456789abcdef0123",
			"exp": now.Add(45 * time.Second).Unix(), "iat": now.Unix(),
		}
	}
	tests := []struct {
		name     string
		alg      string
		kid      string
		key      *rsa.PrivateKey
		mutate   func(c map[string]any, now time.Time, base string)
		wantDesc string // "" means success
	}{
		{name: "RS256", alg: "RS256", kid: "k1", key: keys[0]},
		{name: "RS384", alg: "RS384", kid: "k1", key: keys[0]},
		{name: "RS512 second key", alg: "RS512", kid: "k2", key: keys[1]},
		{name: "user subject", alg: "RS256", kid: "k1", key: keys[0], mutate: func(c map[string]any, _ time.Time, _ string) {
			c["sub"], c["box_sub_type"] = DefaultUserID, "user"
		}},
		{name: "aud array", alg: "RS256", kid: "k1", key: keys[0], mutate: func(c map[string]any, _ time.Time, _ string) {
			c["aud"] = []string{"https://api.box.com/oauth2/token"}
		}},
		{name: "aud array with others", alg: "RS256", kid: "k1", key: keys[0], mutate: func(c map[string]any, _ time.Time, base string) {
			c["aud"] = []string{base + "/oauth2/token", "https://api.box.com/oauth2/token"}
		}},
		// Box checks aud against its own token URL, not the URL the assertion was posted to.
		{name: "aud is the simulator's token URL", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgAud,
			mutate: func(c map[string]any, _ time.Time, base string) { c["aud"] = base + "/oauth2/token" }},
		{name: "aud array of the simulator's token URL", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgAud,
			mutate: func(c map[string]any, _ time.Time, base string) { c["aud"] = []string{base + "/oauth2/token"} }},
		{name: "aud without scheme", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgAud,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["aud"] = "api.box.com/oauth2/token" }},
		{name: "aud missing", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgAud,
			mutate: func(c map[string]any, _ time.Time, _ string) { delete(c, "aud") }},
		{name: "signed by another key", alg: "RS256", kid: "k1", key: keys[1], wantDesc: msgSignature},
		{name: "unknown kid", alg: "RS256", kid: "k9", key: keys[0], wantDesc: msgKid},
		{name: "unsupported alg", alg: "HS256", kid: "k1", key: keys[0], wantDesc: msgAlgorithm},
		{name: "exp past", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgExpPast,
			mutate: func(c map[string]any, now time.Time, _ string) { c["exp"] = now.Add(-time.Second).Unix() }},
		{name: "exp now", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgExpPast,
			mutate: func(c map[string]any, now time.Time, _ string) { c["exp"] = now.Unix() }},
		{name: "exp too far", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgExpFar,
			mutate: func(c map[string]any, now time.Time, _ string) { c["exp"] = now.Add(61 * time.Second).Unix() }},
		{name: "exp missing", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgExpMissing,
			mutate: func(c map[string]any, _ time.Time, _ string) { delete(c, "exp") }},
		{name: "nbf future", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgNbf,
			mutate: func(c map[string]any, now time.Time, _ string) { c["nbf"] = now.Add(10 * time.Second).Unix() }},
		{name: "jti short", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgJti,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["jti"] = "short" }},
		{name: "jti long", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgJti,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["jti"] = strings.Repeat("j", 129) }},
		{name: "iss", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgIss,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["iss"] = "someone" }},
		{name: "sub", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgSub,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["sub"] = "42" }},
		{name: "box_sub_type", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgSub,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["box_sub_type"] = "user" }},
		{name: "aud", alg: "RS256", kid: "k1", key: keys[0], wantDesc: msgAud,
			mutate: func(c map[string]any, _ time.Time, _ string) { c["aud"] = "https://example.com/oauth2/token" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{JWTPublicKeys: map[string]*rsa.PublicKey{
				"k1": &keys[0].PublicKey, "k2": &keys[1].PublicKey,
			}})
			claims := validClaims(h.clock.Now())
			if tt.mutate != nil {
				tt.mutate(claims, h.clock.Now(), h.sim.URL())
			}
			status, header, body := h.postToken(jwtForm(signJWT(t, tt.key, tt.alg, tt.kid, claims)))
			if tt.wantDesc != "" {
				require.Equal(t, http.StatusBadRequest, status)
				require.Equal(t, "invalid_grant", body["error"])
				require.Equal(t, tt.wantDesc, body["error_description"])
				require.Equal(t, h.clock.Now().UTC().Format(http.TimeFormat), header.Get("Date"), "clients resync exp from Date")
				require.Zero(t, h.sim.Grants(GrantJWT))
				return
			}
			require.Equal(t, http.StatusOK, status, body)
			require.NotContains(t, body, "refresh_token")
			require.Equal(t, 1, h.sim.Grants(GrantJWT))
		})
	}

	t.Run("malformed assertions", func(t *testing.T) {
		h := newHarness(t, Options{JWTPublicKeys: map[string]*rsa.PublicKey{"k1": &keys[0].PublicKey}})
		for _, a := range []string{"", "a.b", "a.b.c", "!!.??.**"} {
			status, _, body := h.postToken(jwtForm(a))
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, "invalid_grant", body["error"])
		}
	})
}

func TestServer_TokenJWTReplay(t *testing.T) {
	keys := testKeys()
	h := newHarness(t, Options{JWTPublicKeys: map[string]*rsa.PublicKey{"k1": &keys[0].PublicKey}})
	assertion := signJWT(t, keys[0], "RS256", "k1", map[string]any{
		"iss": DefaultClientID, "sub": DefaultEnterpriseID, "box_sub_type": "enterprise",
		"aud": "https://api.box.com/oauth2/token", "jti": "replayed-jti-0000000001",
		"exp": h.clock.Now().Add(30 * time.Second).Unix(),
	})
	status, _, body := h.postToken(jwtForm(assertion))
	require.Equal(t, http.StatusOK, status, body)
	token := body["access_token"].(string)

	status, _, body = h.postToken(jwtForm(assertion))
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, msgJtiReused, body["error_description"])

	status, _ = h.getEvents(token, url.Values{"stream_type": {"admin_logs_streaming"}})
	require.Equal(t, http.StatusOK, status, "JWT enterprise tokens read enterprise streams")
}
