package boxsim

import (
	"crypto/rsa"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Grant types accepted by POST /oauth2/token (the grant_type form values).
const (
	GrantClientCredentials = "client_credentials"
	GrantJWT               = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantRefreshToken      = "refresh_token"
)

// Subject is whom an access token acts for (box_subject_type / box_sub_type).
type Subject string

// Token subjects. Only enterprise tokens (and admin user tokens, see
// Options.UserIsAdmin) may read enterprise streams.
const (
	SubjectEnterprise Subject = "enterprise"
	SubjectUser       Subject = "user"
)

// refreshTokenTTL is the life of an OAuth 2.0 refresh token (tokens/refresh.md: 60 days).
const refreshTokenTTL = 60 * 24 * time.Hour

// wwwAuthenticate values of Box's 401 answers (box-node-sdk#16).
const (
	authInvalid = `Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`
	authMissing = `Bearer realm="Service", error="invalid_request", error_description="The access token was not found."`
)

type accessToken struct {
	subject   Subject
	subjectID string
	expires   time.Time // zero for developer tokens: they live until expired or revoked
}

func (t *accessToken) valid(now time.Time) bool {
	return t.expires.IsZero() || now.Before(t.expires)
}

// authState holds tokens and JWT replay protection. Server.mu guards it.
type authState struct {
	access  map[string]*accessToken
	refresh map[string]time.Time // refresh token -> expiry
	jtis    map[string]time.Time // jti already used -> its assertion's exp
	issued  map[string]int       // tokens issued per grant type
	keys    map[string]*rsa.PublicKey
}

func newAuthState(opts Options, now time.Time) authState {
	a := authState{
		access:  make(map[string]*accessToken),
		refresh: make(map[string]time.Time),
		jtis:    make(map[string]time.Time),
		issued:  make(map[string]int),
		keys:    maps.Clone(opts.JWTPublicKeys),
	}
	for _, t := range opts.DeveloperTokens {
		a.access[t] = &accessToken{subject: SubjectUser, subjectID: opts.UserID}
	}
	for _, t := range opts.RefreshTokens {
		a.refresh[t] = now.Add(refreshTokenTTL)
	}
	return a
}

// tokenResponse is Box's AccessToken body. Server-auth grants carry no refresh token.
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	ExpiresIn    int      `json:"expires_in"`
	RestrictedTo []string `json:"restricted_to"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	TokenType    string   `json:"token_type"`
}

// oauthError is the token endpoint's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func errInvalidClient() *oauthError {
	return &oauthError{"invalid_client", "The client credentials are invalid"}
}

func errInvalidGrant() *oauthError {
	return &oauthError{"invalid_grant", "Grant credentials are invalid"}
}

// handleToken serves POST /oauth2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	err := r.ParseForm() // a second ParseForm (in record) is a no-op without error
	if a, ok := r.Context().Value(recordedKey{}).(arrival); ok {
		err = a.formErr // parsed when FaultDelay recorded it
	}
	s.record(EndpointToken, r, "")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, &oauthError{"invalid_request", "Invalid request body"})
		return
	}
	f := r.PostForm
	if f.Get("client_id") != s.opts.ClientID {
		writeJSON(w, http.StatusBadRequest, errInvalidClient())
		return
	}
	if f.Get("client_secret") != s.opts.ClientSecret {
		writeJSON(w, http.StatusBadRequest, errInvalidGrant())
		return
	}

	s.mu.Lock()
	resp, oerr := s.grantLocked(f)
	s.mu.Unlock()
	if oerr != nil {
		writeJSON(w, http.StatusBadRequest, oerr)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) grantLocked(f url.Values) (*tokenResponse, *oauthError) {
	now := s.clock.Now()
	switch grant := f.Get("grant_type"); grant {
	case GrantClientCredentials:
		subject := Subject(f.Get("box_subject_type"))
		if !s.validSubject(subject, f.Get("box_subject_id")) {
			return nil, errInvalidGrant()
		}
		return s.issueLocked(grant, subject, f.Get("box_subject_id"), false), nil
	case GrantJWT:
		subject, id, oerr := s.verifyAssertionLocked(f.Get("assertion"), now)
		if oerr != nil {
			return nil, oerr
		}
		return s.issueLocked(grant, subject, id, false), nil
	case GrantRefreshToken:
		rt := f.Get("refresh_token")
		expires, ok := s.auth.refresh[rt]
		if !ok || !now.Before(expires) {
			return nil, &oauthError{"invalid_grant", "Invalid refresh token"}
		}
		delete(s.auth.refresh, rt) // refresh tokens are single use
		return s.issueLocked(grant, SubjectUser, s.opts.UserID, true), nil
	default:
		return nil, &oauthError{"invalid_request", "Invalid grant_type parameter or parameter missing"}
	}
}

func (s *Server) validSubject(subject Subject, id string) bool {
	switch subject {
	case SubjectEnterprise:
		return id == s.opts.EnterpriseID
	case SubjectUser:
		return id == s.opts.UserID
	}
	return false
}

// issueLocked creates an access token (and a refresh token for the refresh grant).
func (s *Server) issueLocked(grant string, subject Subject, subjectID string, withRefresh bool) *tokenResponse {
	now := s.clock.Now()
	s.pruneTokensLocked(now)
	tok := randomToken(s.trafficRnd, 32)
	s.auth.access[tok] = &accessToken{subject: subject, subjectID: subjectID, expires: now.Add(s.opts.TokenTTL)}
	if grant != "" {
		s.auth.issued[grant]++
	}
	resp := &tokenResponse{
		AccessToken:  tok,
		ExpiresIn:    int(s.opts.TokenTTL / time.Second),
		RestrictedTo: make([]string, 0), // [] on the wire, never null
		TokenType:    "bearer",
	}
	if withRefresh {
		resp.RefreshToken = randomToken(s.trafficRnd, 64)
		s.auth.refresh[resp.RefreshToken] = now.Add(refreshTokenTTL)
	}
	return resp
}

// pruneTokensLocked forgets expired tokens and jtis once the maps grow, bounding memory.
func (s *Server) pruneTokensLocked(now time.Time) {
	const pruneAbove = 256
	if len(s.auth.access) > pruneAbove {
		maps.DeleteFunc(s.auth.access, func(_ string, t *accessToken) bool { return !t.valid(now) })
	}
	if len(s.auth.jtis) > pruneAbove {
		// A replayed assertion past its exp is refused by the exp check anyway.
		maps.DeleteFunc(s.auth.jtis, func(_ string, exp time.Time) bool { return exp.Before(now) })
	}
}

// authorize checks the bearer token. It answers 401 and returns false when the token is
// missing, unknown, expired or revoked; the token is nil under Options.NoAuth.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*accessToken, bool) {
	if s.opts.NoAuth {
		return nil, true
	}
	tok, challenge := s.checkToken(r)
	if challenge != "" {
		writeUnauthorized(w, challenge)
		return nil, false
	}
	return tok, true
}

// checkToken returns r's valid bearer token, or else the WWW-Authenticate challenge
// of Box's 401 answer.
func (s *Server) checkToken(r *http.Request) (*accessToken, string) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, authMissing
	}
	scheme, token, _ := strings.Cut(header, " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.auth.access[token]
	if !strings.EqualFold(scheme, "Bearer") || tok == nil || !tok.valid(s.clock.Now()) {
		return nil, authInvalid
	}
	return tok, ""
}

// mayActAsAdmin reports whether tok may read enterprise streams and send As-User.
func (s *Server) mayActAsAdmin(tok *accessToken) bool {
	if tok == nil { // NoAuth
		return true
	}
	return tok.subject == SubjectEnterprise || (s.opts.UserIsAdmin && tok.subjectID == s.opts.UserID)
}

func writeUnauthorized(w http.ResponseWriter, challenge string) {
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// IssueToken returns a fresh access token for subject (for the configured enterprise or
// user), as a grant would, without going through /oauth2/token or counting in Grants.
func (s *Server) IssueToken(subject Subject) string {
	id := s.opts.UserID
	if subject == SubjectEnterprise {
		id = s.opts.EnterpriseID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked("", subject, id, false).AccessToken
}

// ExpireTokens makes every access token issued so far, developer tokens included,
// expired. Refresh tokens and credentials keep working, so clients can get new ones.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, t := range s.auth.access {
		t.expires = now
	}
}

// RevokeTokens invalidates every access, developer and refresh token.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.auth.access)
	clear(s.auth.refresh)
}

// AddRefreshToken makes rt a valid refresh token for UserID (for 60 days on the clock).
func (s *Server) AddRefreshToken(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.refresh[rt] = s.clock.Now().Add(refreshTokenTTL)
}

// RefreshTokens returns the currently valid refresh tokens, sorted. After a refresh only
// the rotated token is valid.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var out []string
	for rt, expires := range s.auth.refresh {
		if now.Before(expires) {
			out = append(out, rt)
		}
	}
	slices.Sort(out)
	return out
}

// Grants returns how many access tokens the token endpoint issued for grant
// (GrantClientCredentials, GrantJWT or GrantRefreshToken).
func (s *Server) Grants(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth.issued[grant]
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomToken returns n alphanumeric characters drawn from r, like Box's tokens.
func randomToken(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenAlphabet[r.IntN(len(tokenAlphabet))]
	}
	return string(b)
}
