package boxauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"github.com/youmark/pkcs8"
)

// jwtServer is a fake Box token endpoint for the jwt-bearer grant. It checks
// the assertion's signature with pub, its exp against now (Box's clock), and
// like Box its aud against https://api.box.com/oauth2/token, whatever URL
// the request was posted to.
type jwtServer struct {
	*tokenServer
	mu      sync.Mutex
	claims  []jwt.MapClaims
	headers []map[string]any
}

func newJWTServer(t *testing.T, pub *rsa.PublicKey, alg string, now func() time.Time) *jwtServer {
	t.Helper()
	js := &jwtServer{}
	js.tokenServer = newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, form url.Values) {
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
		tok, err := jwt.Parse(form.Get("assertion"), func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(now), jwt.WithExpirationRequired(),
			jwt.WithAudience("https://api.box.com/oauth2/token"), jwt.WithIssuer(fixtureClientID))
		if errors.Is(err, jwt.ErrTokenInvalidAudience) {
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant",
				"error_description": "Please check the 'aud' claim. Should match the token URL."})
			return
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant",
				"error_description": "Current date/time MUST be before the expiration date/time listed in the 'exp' claim"})
			return
		}
		if err != nil {
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "bad assertion"})
			return
		}
		// Box also refuses an exp more than 60 s after its own now.
		if exp, err := tok.Claims.GetExpirationTime(); err != nil || exp.Sub(now()) > time.Minute {
			writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant",
				"error_description": "Please check the 'exp' claim. Should be at most 60 seconds after the current time."})
			return
		}
		js.mu.Lock()
		js.claims = append(js.claims, tok.Claims.(jwt.MapClaims))
		js.headers = append(js.headers, tok.Header)
		js.mu.Unlock()
		writeJSON(t, w, http.StatusOK, accessToken("jwt-access", 4123))
	})
	return js
}

func TestJWT_AssertionAndExchange(t *testing.T) {
	_, key := loadFixture(t)
	tests := []struct {
		name              string
		alg               string
		extra             map[string]any
		subType, subID    string
		wantType, wantSub string
	}{
		{name: "default RS256 enterprise", wantType: "enterprise", wantSub: fixtureEnterpriseID},
		{name: "RS384", alg: "RS384", wantType: "enterprise", wantSub: fixtureEnterpriseID},
		{name: "RS512", alg: "RS512", wantType: "enterprise", wantSub: fixtureEnterpriseID},
		{name: "userID in file", extra: map[string]any{"userID": 998877}, wantType: "user", wantSub: "998877"},
		{name: "explicit user", subType: "user", subID: "555", wantType: "user", wantSub: "555"},
		{name: "explicit enterprise over userID", extra: map[string]any{"userID": "998877"}, subType: "enterprise",
			wantType: "enterprise", wantSub: fixtureEnterpriseID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mock := clock.NewMock()
			mock.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
			wantAlg := tt.alg
			if wantAlg == "" {
				wantAlg = "RS256"
			}
			srv := newJWTServer(t, &key.PublicKey, wantAlg, mock.Now)
			path := writeConfig(t, appConfig(encryptedPEM(t, key, fixturePassphrase, nil), fixturePassphrase, tt.extra))
			s, err := JWT(JWTConfig{ConfigFile: path, Algorithm: tt.alg, SubjectType: tt.subType, SubjectID: tt.subID,
				TokenURL: srv.TokenURL(), HTTPClient: srv.Client(), Clock: mock})
			require.NoError(t, err)
			tok, err := s.Token(ctxT(t))
			require.NoError(t, err)
			require.Equal(t, "jwt-access", tok)

			forms := srv.Forms()
			require.Len(t, forms, 1)
			form := forms[0]
			require.ElementsMatch(t, []string{"grant_type", "assertion", "client_id", "client_secret"}, keys(form))
			require.Equal(t, "urn:ietf:params:oauth:grant-type:jwt-bearer", form.Get("grant_type"))
			require.Equal(t, fixtureClientID, form.Get("client_id"))
			require.Equal(t, fixtureClientSecret, form.Get("client_secret"))

			require.Len(t, srv.claims, 1)
			h, c := srv.headers[0], srv.claims[0]
			require.Equal(t, map[string]any{"alg": wantAlg, "kid": fixtureKeyID, "typ": "JWT"}, h)
			now := float64(mock.Now().Unix())
			require.Equal(t, fixtureClientID, c["iss"])
			require.Equal(t, tt.wantSub, c["sub"])
			require.Equal(t, tt.wantType, c["box_sub_type"])
			require.Equal(t, "https://api.box.com/oauth2/token", c["aud"])
			require.InDelta(t, now, c["iat"], 0)
			require.InDelta(t, now+45, c["exp"], 0)
			jti, _ := c["jti"].(string)
			require.GreaterOrEqual(t, len(jti), 32)
			require.LessOrEqual(t, len(jti), 64)
		})
	}
}

// TestJWT_AudienceIsBoxTokenURL: Box checks aud against its token URL, not
// against the URL the request went to, so a proxy or test server as
// token_url must still get aud = https://api.box.com/oauth2/token.
func TestJWT_AudienceIsBoxTokenURL(t *testing.T) {
	data, key := loadFixture(t)
	mock := clock.NewMock()
	mock.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	srv := newJWTServer(t, &key.PublicKey, "RS256", mock.Now)
	require.NotEqual(t, DefaultTokenURL, srv.TokenURL())
	s, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: srv.TokenURL(), HTTPClient: srv.Client(), Clock: mock})
	require.NoError(t, err)
	_, err = s.Token(ctxT(t))
	require.NoError(t, err)

	forms := srv.Forms()
	require.Len(t, forms, 1)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(forms[0].Get("assertion"), claims)
	require.NoError(t, err)
	require.Equal(t, "https://api.box.com/oauth2/token", claims["aud"])
}

func keys(v url.Values) []string {
	ks := make([]string, 0, len(v))
	for k := range v {
		ks = append(ks, k)
	}
	return ks
}

func TestJWT_UniqueJTI(t *testing.T) {
	data, _ := loadFixture(t)
	f, err := newJWTFetcher(JWTConfig{ConfigFile: writeConfig(t, data), Clock: clock.NewMock()})
	require.NoError(t, err)
	seen := map[string]bool{}
	for range 200 {
		a, err := f.assertion()
		require.NoError(t, err)
		c := jwt.MapClaims{}
		_, _, err = jwt.NewParser().ParseUnverified(a, c)
		require.NoError(t, err)
		jti := c["jti"].(string)
		require.False(t, seen[jti], "duplicate jti")
		seen[jti] = true
	}
}

func TestJWT_ClockSkewRetriedOnceWithDateHeader(t *testing.T) {
	_, key := loadFixture(t)
	mock := clock.NewMock()
	mock.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	boxNow := func() time.Time { return mock.Now().Add(10 * time.Minute) } // we are 10 min behind Box
	srv := newJWTServer(t, &key.PublicKey, "RS256", boxNow)
	data, _ := loadFixture(t)
	s, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: srv.TokenURL(), HTTPClient: srv.Client(), Clock: mock})
	require.NoError(t, err)
	ctx := ctxT(t)
	tok, err := s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "jwt-access", tok)
	require.Equal(t, 2, srv.Count(), "one rejected assertion, one corrected")
	require.InDelta(t, float64(boxNow().Unix()), srv.claims[0]["iat"], 0)

	// The learnt offset is kept: the next assertion is right the first time.
	s.Invalidate(tok)
	_, err = s.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, srv.Count())
}

func TestJWT_ClockSkewRetryLimits(t *testing.T) {
	data, _ := loadFixture(t)
	tests := []struct {
		name      string
		date      bool
		wantCount int
	}{
		{"persistent skew within the bound: exactly one retry", true, 2},
		{"no Date header: no retry", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
				if tt.date {
					w.Header().Set("Date", time.Now().Add(10*time.Minute).UTC().Format(http.TimeFormat))
				} else {
					w.Header()["Date"] = nil
				}
				writeJSON(t, w, http.StatusBadRequest, map[string]any{"error": "invalid_grant",
					"error_description": "Please check the 'exp' claim."})
			})
			s, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
			require.NoError(t, err)
			_, err = s.Token(ctxT(t))
			require.ErrorIs(t, err, ErrRefused)
			require.ErrorContains(t, err, "invalid_grant: Please check the 'exp' claim.")
			require.Equal(t, tt.wantCount, srv.Count())
		})
	}
}

// TestJWT_ClockOffsetBound: an offset learnt from Box's Date header dates
// every later assertion, so it is adopted only within 15 minutes; beyond,
// the request is not retried and the error tells the operator to fix the
// clock.
func TestJWT_ClockOffsetBound(t *testing.T) {
	data, key := loadFixture(t)
	tests := []struct {
		name   string
		offset time.Duration // Box's clock minus ours
		want   string        // the error; empty: the offset is adopted
	}{
		{name: "14 min behind Box: adopted", offset: 14 * time.Minute},
		{name: "14 min ahead of Box: adopted", offset: -14 * time.Minute},
		{name: "exactly 15 min: adopted", offset: 15 * time.Minute},
		{name: "16 min behind Box", offset: 16 * time.Minute,
			want: "box JWT: the local clock differs from Box's by about 16m (it is behind), beyond the 15-minute bound " +
				"on clock correction; fix the system clock (NTP): box token endpoint refused the credentials: " +
				"HTTP 400 invalid_grant: Current date/time MUST be before the expiration date/time listed in the 'exp' claim"},
		{name: "2h30m ahead of Box", offset: -150 * time.Minute,
			want: "the local clock differs from Box's by about 2h30m (it is ahead), beyond the 15-minute bound"},
		{name: "Date in 2099", offset: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)),
			want: "the local clock differs from Box's by about 26877 days (it is behind)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mock := clock.NewMock()
			mock.Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
			boxNow := func() time.Time { return mock.Now().Add(tt.offset) }
			srv := newJWTServer(t, &key.PublicKey, "RS256", boxNow)
			s, err := JWT(JWTConfig{ConfigFile: writeConfig(t, data), TokenURL: srv.TokenURL(), HTTPClient: srv.Client(), Clock: mock})
			require.NoError(t, err)
			ctx := ctxT(t)
			tok, err := s.Token(ctx)
			if tt.want == "" {
				require.NoError(t, err)
				require.Equal(t, 2, srv.Count(), "one rejected assertion, one dated by Box's clock")
				s.Invalidate(tok)
				_, err = s.Token(ctx)
				require.NoError(t, err)
				require.Equal(t, 3, srv.Count(), "the offset was kept")
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, 1, srv.Count(), "no retry with an offset beyond the bound")
			// Nothing was learnt: the next assertion is dated by the local clock again.
			_, err = s.Token(ctx)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, 2, srv.Count())
		})
	}
}

func TestApproxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		16 * time.Minute:                   "16m",
		-16*time.Minute - 20*time.Second:   "16m",
		59*time.Minute + 40*time.Second:    "1h",
		2*time.Hour + 30*time.Minute:       "2h30m",
		47*time.Hour + 59*time.Minute:      "47h59m",
		48 * time.Hour:                     "2 days",
		-(100*24*time.Hour + 13*time.Hour): "101 days",
		math.MaxInt64:                      "106752 days",
		math.MinInt64:                      "106752 days",
	} {
		require.Equal(t, want, approxDuration(d), d.String())
	}
}

func TestJWT_KeyFormats(t *testing.T) {
	_, key := loadFixture(t)
	tests := []struct {
		name, pem, pass string
		override        Secret
	}{
		{name: "encrypted PKCS#8 AES-256 PBKDF2", pem: encryptedPEM(t, key, "pw", nil), pass: "pw"},
		{name: "encrypted PKCS#8 3DES", pem: encryptedPEM(t, key, "pw", &pkcs8.Opts{Cipher: pkcs8.TripleDESCBC,
			KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 2048, HMACHash: 0x5}}), pass: "pw"},
		{name: "encrypted PKCS#8 scrypt", pem: encryptedPEM(t, key, "pw", &pkcs8.Opts{Cipher: pkcs8.AES128CBC,
			KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1 << 10, BlockSize: 8, ParallelizationParameter: 1}}), pass: "pw"},
		{name: "passphrase override", pem: encryptedPEM(t, key, "right", nil), pass: "wrong-in-file", override: secretOf("right")},
		{name: "empty override falls back to file", pem: encryptedPEM(t, key, "pw", nil), pass: "pw", override: secretOf("")},
		{name: "unencrypted PKCS#8", pem: pkcs8PEM(t, key)},
		{name: "PKCS#1", pem: pkcs1PEM(key)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newJWTFetcher(JWTConfig{ConfigFile: writeConfig(t, appConfig(tt.pem, tt.pass, nil)), Passphrase: tt.override})
			require.NoError(t, err)
			require.True(t, key.Equal(f.app.key))
		})
	}
}

func TestJWT_ConfigErrors(t *testing.T) {
	_, key := loadFixture(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	good := encryptedPEM(t, key, fixturePassphrase, nil)
	without := func(path ...string) map[string]any {
		cfg := appConfig(good, fixturePassphrase, nil)
		m := cfg
		for _, p := range path[:len(path)-1] {
			m = m[p].(map[string]any)
		}
		delete(m, path[len(path)-1])
		return cfg
	}
	tests := []struct {
		name   string
		config any // nil: file absent
		cfg    JWTConfig
		want   string
	}{
		{name: "missing file", want: "no such file or directory"},
		{name: "malformed JSON", config: `{"boxAppSettings": {"clientID": "x",`, want: "malformed JSON at byte offset"},
		{name: "not an object", config: `"x"`, want: "not a Box app config"},
		{name: "wrong type", config: `{"boxAppSettings":{"clientID":5}}`, want: `field "boxAppSettings.clientID" must be a JSON string`},
		{name: "enterpriseID object", config: `{"enterpriseID":{}}`, want: `field "enterpriseID" must be a JSON string`},
		{name: "top-level array", config: `[]`, want: "not a Box app config (JSON object expected)"},
		{name: "empty object", config: `{}`, want: "missing boxAppSettings.clientID, boxAppSettings.clientSecret, " +
			"boxAppSettings.appAuth.publicKeyID, boxAppSettings.appAuth.privateKey"},
		{name: "missing publicKeyID", config: without("boxAppSettings", "appAuth", "publicKeyID"), want: "missing boxAppSettings.appAuth.publicKeyID"},
		{name: "missing passphrase", config: without("boxAppSettings", "appAuth", "passphrase"), want: "key is encrypted but no passphrase"},
		{name: "wrong passphrase", config: appConfig(good, "wrong", nil), want: "cannot decrypt (wrong passphrase or corrupted key)"},
		{name: "wrong override", config: appConfig(good, fixturePassphrase, nil), cfg: JWTConfig{Passphrase: secretOf("wrong")}, want: "wrong passphrase"},
		{name: "passphrase store error", config: appConfig(good, fixturePassphrase, nil),
			cfg: JWTConfig{Passphrase: func() (string, error) { return "", errors.New("locked") }}, want: "reading passphrase: locked"},
		{name: "not PEM", config: appConfig("MIIEvQIBADANBg", "", nil), want: "privateKey: not a PEM block"},
		{name: "unsupported PEM type", config: appConfig(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), "", nil),
			want: `unsupported PEM block type "CERTIFICATE"`},
		{name: "legacy encrypted PEM", config: appConfig(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})), "", nil),
			want: "legacy encrypted PEM"},
		{name: "garbage PKCS#1", config: appConfig(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "", nil),
			want: "malformed key"},
		{name: "EC key", config: appConfig(pkcs8PEM(t, ec), "", nil), want: "Box needs an RSA key"},
		{name: "truncated encrypted key", config: appConfig(truncatedPEM(t, good), fixturePassphrase, nil), want: "privateKey"},
		{name: "zero PBKDF2 iterations", config: appConfig(encryptedPEM(t, key, "pw", &pkcs8.Opts{Cipher: pkcs8.AES256CBC,
			KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 0, HMACHash: 0x5}}), "pw", nil), want: "PBKDF2 iteration count 0 outside"},
		{name: "huge PBKDF2 iterations", config: appConfig(withIterations(t, good, 1<<30), fixturePassphrase, nil),
			want: "PBKDF2 iteration count 1073741824 outside"},
		{name: "bad algorithm", config: appConfig(good, fixturePassphrase, nil), cfg: JWTConfig{Algorithm: "HS256"},
			want: `algorithm "HS256" must be RS256, RS384 or RS512`},
		{name: "no enterpriseID", config: without("enterpriseID"), want: "enterpriseID missing and subject_id not set"},
		{name: "user without userID", config: appConfig(good, fixturePassphrase, nil), cfg: JWTConfig{SubjectType: "user"},
			want: "userID missing"},
		{name: "subject_id without type", config: appConfig(good, fixturePassphrase, nil), cfg: JWTConfig{SubjectID: "1"}, want: "subject_type required"},
		{name: "bad subject_type", config: appConfig(good, fixturePassphrase, nil), cfg: JWTConfig{SubjectType: "group"}, want: `subject_type "group"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.ConfigFile = filepath.Join(t.TempDir(), "absent.json")
			if tt.config != nil {
				cfg.ConfigFile = writeConfig(t, tt.config)
			}
			_, err := JWT(cfg)
			require.ErrorContains(t, err, tt.want)
			if !strings.Contains(tt.name, "algorithm") && !strings.Contains(tt.name, "subject_id without") && !strings.Contains(tt.name, "bad subject_type") {
				require.ErrorContains(t, err, cfg.ConfigFile, "the error names the file")
			}
			requireNoKeyMaterial(t, err.Error(), good)
			require.NotContains(t, err.Error(), fixturePassphrase)
		})
	}
	_, err = JWT(JWTConfig{})
	require.EqualError(t, err, "box JWT: config_file required")
}

// requireNoKeyMaterial fails if any base64 line of keyPEM (or part of one) is in s.
func requireNoKeyMaterial(t *testing.T, s, keyPEM string) {
	t.Helper()
	for _, line := range strings.Split(keyPEM, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			require.NotContains(t, s, line[:16])
		}
	}
}

func truncatedPEM(t testing.TB, p string) string {
	block, _ := pem.Decode([]byte(p))
	require.NotNil(t, block)
	block.Bytes = block.Bytes[:len(block.Bytes)-7]
	return string(pem.EncodeToMemory(block))
}

// withIterations re-encodes an encrypted PKCS#8 PEM with another PBKDF2
// iteration count (encrypting with 2^30 iterations would take minutes).
func withIterations(t testing.TB, p string, n int) string {
	block, _ := pem.Decode([]byte(p))
	require.NotNil(t, block)
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	_, err := asn1.Unmarshal(block.Bytes, &info)
	require.NoError(t, err)
	var params struct{ KDF, Scheme pkix.AlgorithmIdentifier }
	_, err = asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params)
	require.NoError(t, err)
	var kdf struct {
		Salt       []byte
		Iterations int
		PRF        pkix.AlgorithmIdentifier
	}
	_, err = asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf)
	require.NoError(t, err)
	kdf.Iterations = n
	raw, err := asn1.Marshal(kdf)
	require.NoError(t, err)
	params.KDF.Parameters = asn1.RawValue{FullBytes: raw}
	raw, err = asn1.Marshal(params)
	require.NoError(t, err)
	info.Algorithm.Parameters = asn1.RawValue{FullBytes: raw}
	block.Bytes, err = asn1.Marshal(info)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(block))
}

func TestJWT_ConfigFileUnreadableIsNotAPanic(t *testing.T) {
	dir := t.TempDir()
	_, err := JWT(JWTConfig{ConfigFile: dir}) // a directory
	require.ErrorContains(t, err, dir)
	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, maxConfigFileSize+1), 0o600))
	_, err = JWT(JWTConfig{ConfigFile: big})
	require.ErrorContains(t, err, "larger than")
	// A path that names an endless device is read no further than the limit.
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err = JWT(JWTConfig{ConfigFile: "/dev/zero"})
		require.ErrorContains(t, err, "larger than")
	}
}

// A Box app config saved on Windows: Notepad (before Windows 10 1903, and still with
// "UTF-8 with BOM") starts the file with a UTF-8 byte order mark, and editors there write
// CRLF line ends, in the JSON and in a private key pasted into it.
func TestJWT_ConfigEditedOnWindows(t *testing.T) {
	_, key := loadFixture(t)
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	data, err := json.MarshalIndent(appConfig(crlf(encryptedPEM(t, key, "pw", nil)), "pw", nil), "", "  ")
	require.NoError(t, err)
	for name, file := range map[string]string{
		"CRLF":          crlf(string(data)),
		"BOM":           "\uFEFF" + string(data),
		"BOM and CRLF":  "\uFEFF" + crlf(string(data)),
		"BOM, no space": "\uFEFF" + string(compactJSON(t, data)),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := newJWTFetcher(JWTConfig{ConfigFile: writeConfig(t, file)})
			require.NoError(t, err)
			require.True(t, key.Equal(f.app.key))
			require.Equal(t, fixtureClientID, f.app.clientID)
		})
	}
}

func compactJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, data))
	return b.Bytes()
}
