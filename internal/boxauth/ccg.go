package boxauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Subject types accepted by Box's token endpoint (box_subject_type, box_sub_type).
const (
	SubjectEnterprise = "enterprise"
	SubjectUser       = "user"
)

// ClientCredentialsConfig configures the client credentials grant (CCG).
type ClientCredentialsConfig struct {
	TokenURL     string        // default DefaultTokenURL
	ClientID     string        // required
	ClientSecret Secret        // required; called at each token request
	SubjectType  string        // "enterprise" (service account) or "user"
	SubjectID    string        // enterprise ID or user ID
	HTTPClient   *http.Client  // nil means http.DefaultClient
	Clock        clock.Clock   // nil means the real clock
	Timeout      time.Duration // bounds one token request; 0 means a minute
}

// ClientCredentials returns a Source that obtains tokens with Box's client
// credentials grant (grant_type=client_credentials, client_id, client_secret,
// box_subject_type, box_subject_id as form fields). It only validates cfg; no
// request is made until the first Token call.
func ClientCredentials(cfg ClientCredentialsConfig) (*Source, error) {
	var missing []string
	if cfg.ClientID == "" {
		missing = append(missing, "client_id")
	}
	if cfg.ClientSecret == nil {
		missing = append(missing, "client_secret")
	}
	if cfg.SubjectType == "" {
		missing = append(missing, "subject_type")
	}
	if cfg.SubjectID == "" {
		missing = append(missing, "subject_id")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("box client credentials: %s required", strings.Join(missing, ", "))
	}
	if err := checkSubjectType(cfg.SubjectType); err != nil {
		return nil, fmt.Errorf("box client credentials: %w", err)
	}
	tokenURL, err := checkTokenURL(cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("box client credentials: %w", err)
	}
	hc := noRedirects(cfg.HTTPClient)
	fetch := func(ctx context.Context) (*oauth2.Token, error) {
		secret, err := getSecret(cfg.ClientSecret, "client_secret")
		if err != nil {
			return nil, err
		}
		tok, err := retrieve(ctx, hc, &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: secret,
			TokenURL:     tokenURL,
			AuthStyle:    oauth2.AuthStyleInParams,
			EndpointParams: url.Values{
				"box_subject_type": {cfg.SubjectType},
				"box_subject_id":   {cfg.SubjectID},
			},
		})
		return tok, classify(err)
	}
	return NewSource(fetch, cfg.Clock).withTimeout(cfg.Timeout), nil
}

// retrieve makes one token request through golang.org/x/oauth2 with hc,
// which must come from noRedirects. The returned error is oauth2's,
// unclassified (JWT inspects it for clock skew).
func retrieve(ctx context.Context, hc *http.Client, cfg *clientcredentials.Config) (*oauth2.Token, error) {
	return cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
}

// noRedirects returns a copy of hc (of http.DefaultClient if hc is nil) that
// never follows a redirect. Every token request goes through such a copy:
// on a 307 or 308 net/http re-posts the body, client_secret, refresh token
// or JWT assertion included, to whatever host Location names. The redirect
// answer itself is returned, and classify reports it. The caller's client,
// which may also carry API requests, keeps its own policy.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// getSecret calls s and rejects an empty value; name is the config key.
func getSecret(s Secret, name string) (string, error) {
	v, err := s()
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	if v == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return v, nil
}

func checkSubjectType(t string) error {
	if t != SubjectEnterprise && t != SubjectUser {
		return fmt.Errorf("subject_type %q must be %q or %q", t, SubjectEnterprise, SubjectUser)
	}
	return nil
}

// checkTokenURL defaults and validates a token endpoint URL. It must be
// absolute and carry no user info (the URL appears in network errors).
func checkTokenURL(raw string) (string, error) {
	if raw == "" {
		return DefaultTokenURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("token_url is not a valid URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", errors.New("token_url must be an absolute http(s) URL without user info")
	}
	return raw, nil
}
