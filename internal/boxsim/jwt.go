package boxsim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"
)

// boxAudience is the only JWT "aud" Box accepts: its token URL, wherever the assertion
// is posted (here, the simulator's own URL).
const boxAudience = "https://api.box.com/oauth2/token"

// maxAssertionLife is how far in the future Box accepts a JWT's exp.
const maxAssertionLife = 60 * time.Second

// Box's invalid_grant descriptions for JWT assertions.
const (
	msgAssertion  = "Please check the 'assertion' parameter"
	msgAlgorithm  = "Please check the 'alg' value. Supported algorithms are RS256, RS384 and RS512"
	msgKid        = "Please check the 'kid' value"
	msgSignature  = `Signature verification error. The public key identified by "kid" must correspond to the private key used for signing.`
	msgIss        = "Please check the 'iss' claim. It must be the client ID"
	msgSub        = "Please check the 'sub' and 'box_sub_type' claims"
	msgAud        = "Please check the 'aud' claim. Should match the token URL"
	msgExpMissing = "Please check the 'exp' claim"
	msgExpPast    = "Current date/time MUST be before the expiration date/time listed in the 'exp' claim"
	msgExpFar     = "Please check the 'exp' claim. It must be at most 60 seconds after the current date/time"
	msgNbf        = "Current date/time MUST be after the 'nbf' claim"
	msgJti        = "Please check the 'jti' claim. It must be a unique string of 16 to 128 characters"
	msgJtiReused  = "Please check the 'jti' claim. A unique 'jti' value is required"
)

// jwtClaims are the claims Box reads from an assertion.
type jwtClaims struct {
	Iss        string          `json:"iss"`
	Sub        string          `json:"sub"`
	BoxSubType string          `json:"box_sub_type"`
	Aud        json.RawMessage `json:"aud"` // a string or an array of strings
	Jti        string          `json:"jti"`
	Exp        json.Number     `json:"exp"`
	Nbf        json.Number     `json:"nbf"`
}

// verifyAssertionLocked checks a JWT bearer assertion (signature, then claims) and
// consumes its jti. It returns the token subject. Like Box, it accepts only
// boxAudience as aud (a string, or an array containing it), not the URL the assertion
// was posted to.
func (s *Server) verifyAssertionLocked(assertion string, now time.Time) (Subject, string, *oauthError) {
	invalid := func(msg string) (Subject, string, *oauthError) {
		return "", "", &oauthError{"invalid_grant", msg}
	}

	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return invalid(msgAssertion)
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if decodeSegment(parts[0], &header) != nil {
		return invalid(msgAssertion)
	}
	hash, digest := crypto.Hash(0), []byte(nil)
	signed := []byte(parts[0] + "." + parts[1])
	switch header.Alg {
	case "RS256":
		sum := sha256.Sum256(signed)
		hash, digest = crypto.SHA256, sum[:]
	case "RS384":
		sum := sha512.Sum384(signed)
		hash, digest = crypto.SHA384, sum[:]
	case "RS512":
		sum := sha512.Sum512(signed)
		hash, digest = crypto.SHA512, sum[:]
	default:
		return invalid(msgAlgorithm)
	}
	key := s.auth.keys[header.Kid]
	if key == nil {
		return invalid(msgKid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || rsa.VerifyPKCS1v15(key, hash, digest, sig) != nil {
		return invalid(msgSignature)
	}

	var claims jwtClaims
	if decodeSegment(parts[1], &claims) != nil {
		return invalid(msgAssertion)
	}
	if claims.Iss != s.opts.ClientID {
		return invalid(msgIss)
	}
	subject := Subject(claims.BoxSubType)
	if !s.validSubject(subject, claims.Sub) {
		return invalid(msgSub)
	}
	if !audienceOK(claims.Aud, boxAudience) {
		return invalid(msgAud)
	}
	exp, ok := numericDate(claims.Exp)
	switch {
	case !ok:
		return invalid(msgExpMissing)
	case !now.Before(exp):
		return invalid(msgExpPast)
	case exp.After(now.Add(maxAssertionLife)):
		return invalid(msgExpFar)
	}
	if nbf, ok := numericDate(claims.Nbf); ok && now.Before(nbf) {
		return invalid(msgNbf)
	}
	if n := len(claims.Jti); n < 16 || n > 128 {
		return invalid(msgJti)
	}
	if _, used := s.auth.jtis[claims.Jti]; used {
		return invalid(msgJtiReused)
	}
	s.auth.jtis[claims.Jti] = exp
	return subject, claims.Sub, nil
}

// decodeSegment decodes one base64url JSON segment of a JWT.
func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// numericDate converts a JWT NumericDate (seconds, maybe fractional).
func numericDate(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// audienceOK reports whether aud (a string or an array of strings) names want.
func audienceOK(aud json.RawMessage, want string) bool {
	var list []string
	var one string
	if json.Unmarshal(aud, &one) == nil {
		list = []string{one}
	} else if json.Unmarshal(aud, &list) != nil {
		return false
	}
	return slices.Contains(list, want)
}
