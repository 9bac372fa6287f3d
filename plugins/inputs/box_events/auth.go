package box_events

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/telegraf-box/telegraf-box/internal/boxauth"
)

const (
	authClientCredentials = "client_credentials"
	authJWT               = "jwt"
	authOAuth2Refresh     = "oauth2_refresh"
	authDeveloperToken    = "developer_token"

	userAgent = "telegraf-box (+https://github.com/telegraf-box/telegraf-box)"
)

// authenticator builds the token source for the configured auth method. No
// token is requested here; secrets are read from their store at every token
// request, so rotated values are picked up.
func (b *BoxEvents) authenticator(httpClient *http.Client) (tokenSource, error) {
	if err := b.checkSecretsLinked(); err != nil {
		return nil, err
	}
	tokenURL := b.cfg.baseURL + "/oauth2/token"
	switch b.Auth {
	case authClientCredentials:
		if b.ClientID == "" {
			return nil, errors.New(`auth "client_credentials" needs client_id`)
		}
		if b.ClientSecret.Empty() {
			return nil, errors.New(`auth "client_credentials" needs client_secret`)
		}
		if err := b.checkSubject(true); err != nil {
			return nil, err
		}
		return boxauth.ClientCredentials(boxauth.ClientCredentialsConfig{
			TokenURL:     tokenURL,
			ClientID:     b.ClientID,
			ClientSecret: secretFunc(&b.ClientSecret),
			SubjectType:  b.SubjectType,
			SubjectID:    b.SubjectID,
			HTTPClient:   httpClient,
			Clock:        b.clock,
			Timeout:      time.Duration(b.Timeout),
		})
	case authJWT:
		if b.JWTConfigFile == "" {
			return nil, errors.New(`auth "jwt" needs jwt_config_file (the app config JSON from the Box Developer Console)`)
		}
		if err := b.checkSubject(false); err != nil {
			return nil, err
		}
		b.warnIfExposed("jwt_config_file", b.JWTConfigFile)
		switch b.JWTAlgorithm {
		case "RS256", "RS384", "RS512":
		default:
			return nil, fmt.Errorf("invalid jwt_algorithm %q: want RS256, RS384 or RS512", b.JWTAlgorithm)
		}
		var passphrase boxauth.Secret
		if !b.JWTPassphrase.Empty() {
			passphrase = secretFunc(&b.JWTPassphrase)
		}
		src, err := boxauth.JWT(boxauth.JWTConfig{
			ConfigFile:  b.JWTConfigFile,
			Passphrase:  passphrase,
			SubjectType: b.SubjectType,
			SubjectID:   b.SubjectID,
			Algorithm:   b.JWTAlgorithm,
			TokenURL:    tokenURL,
			HTTPClient:  httpClient,
			Clock:       b.clock,
			Timeout:     time.Duration(b.Timeout),
		})
		if err != nil {
			return nil, fmt.Errorf("jwt_config_file: %w", err)
		}
		return src, nil
	case authOAuth2Refresh:
		if b.ClientID == "" || b.ClientSecret.Empty() {
			return nil, errors.New(`auth "oauth2_refresh" needs client_id and client_secret`)
		}
		if b.RefreshToken == "" {
			return nil, errors.New(`auth "oauth2_refresh" needs refresh_token_file (a file holding the current refresh token)`)
		}
		b.warnIfExposed("refresh_token_file", b.RefreshToken)
		src, err := boxauth.RefreshToken(boxauth.RefreshConfig{
			TokenURL:         tokenURL,
			ClientID:         b.ClientID,
			ClientSecret:     secretFunc(&b.ClientSecret),
			RefreshTokenFile: b.RefreshToken,
			HTTPClient:       httpClient,
			Clock:            b.clock,
			Timeout:          time.Duration(b.Timeout),
		})
		if err != nil {
			return nil, fmt.Errorf("refresh_token_file: %w", err)
		}
		return src, nil
	case authDeveloperToken:
		if b.DeveloperToken.Empty() {
			return nil, errors.New(`auth "developer_token" needs developer_token`)
		}
		return boxauth.DeveloperToken(secretFunc(&b.DeveloperToken)), nil
	default:
		return nil, fmt.Errorf("invalid auth %q: want %q, %q, %q or %q",
			b.Auth, authClientCredentials, authJWT, authOAuth2Refresh, authDeveloperToken)
	}
}

// checkSubject validates subject_type and subject_id. For JWT both may be
// left to the app config file.
func (b *BoxEvents) checkSubject(required bool) error {
	switch b.SubjectType {
	case "enterprise", "user":
	case "":
		if !required {
			return nil
		}
		fallthrough
	default:
		return fmt.Errorf(`invalid subject_type %q: want "enterprise" (the service account) or "user"`, b.SubjectType)
	}
	if required && b.SubjectID == "" {
		return fmt.Errorf(`auth %q needs subject_id (the %s id)`, b.Auth, b.SubjectType)
	}
	return nil
}

// checkSecretsLinked refuses a secret-store reference (@{store:key}) that no
// store was linked to: compiled in, Telegraf links every reference before
// Init (and stops on one it cannot link), but telegraf-box has no secret
// stores, so the secret could never be read and every token request would
// fail at run time. Only the reference is named, never a value.
func (b *BoxEvents) checkSecretsLinked() error {
	for _, s := range []struct {
		option string
		secret *config.Secret
	}{{"client_secret", &b.ClientSecret}, {"developer_token", &b.DeveloperToken}, {"jwt_passphrase", &b.JWTPassphrase}} {
		if refs := s.secret.GetUnlinked(); len(refs) > 0 {
			return fmt.Errorf("%s refers to a secret store (%s) that is not linked: secret stores work only compiled into Telegraf; "+
				"under inputs.execd pass the secret in an environment variable, e.g. %s = \"${BOX_%s}\"",
				s.option, strings.Join(refs, ", "), s.option, strings.ToUpper(s.option))
		}
	}
	return nil
}

// warnIfExposed warns when a credential file can be read by every user of
// the host: the JWT app config holds the client secret and the key's
// passphrase, the refresh token file a token valid for 60 days. Group read
// is left alone (root:telegraf 0640 is a usual setup). A missing file is
// reported by boxauth itself.
func (b *BoxEvents) warnIfExposed(option, path string) {
	if runtime.GOOS == "windows" {
		return // permission bits mean nothing there
	}
	info, err := os.Stat(path)
	if err != nil {
		return
	}
	if perm := info.Mode().Perm(); perm&0o007 != 0 {
		b.Log.Warnf("%s %q can be read by every user (mode %#o) and holds Box credentials; restrict it, e.g. chmod 600",
			option, path, perm)
	}
}

// secretFunc reads a secret when a token is requested. The copy lives only
// for that request.
func secretFunc(s *config.Secret) boxauth.Secret {
	return func() (string, error) {
		buf, err := s.Get()
		if err != nil {
			return "", err
		}
		defer buf.Destroy()
		// A secret read from a file keeps the file's last line ending (a
		// Kubernetes secret made with --from-file, an env file): no Box
		// credential ends in one, and Box refused it as a wrong secret.
		return strings.TrimRight(buf.String(), "\r\n"), nil
	}
}
