package boxauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/youmark/pkcs8"
)

// jwtApp is the content of a Box app-config JSON file, with the key decoded.
type jwtApp struct {
	clientID     string
	clientSecret string
	keyID        string
	key          *rsa.PrivateKey
	enterpriseID string
	userID       string
}

// boxAppConfig mirrors the JSON file the Box Developer Console generates.
type boxAppConfig struct {
	BoxAppSettings struct {
		ClientID     string `json:"clientID"`
		ClientSecret string `json:"clientSecret"`
		AppAuth      struct {
			PublicKeyID string `json:"publicKeyID"`
			PrivateKey  string `json:"privateKey"`
			Passphrase  string `json:"passphrase"`
		} `json:"appAuth"`
	} `json:"boxAppSettings"`
	EnterpriseID idString `json:"enterpriseID"`
	UserID       idString `json:"userID"`
}

// idString accepts an ID written as a JSON string or a bare number (digits
// kept as written), or null.
type idString string

// UnmarshalJSON implements json.Unmarshaler for the forms described on idString.
func (s *idString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = idString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: "non-ID value", Type: reflect.TypeFor[string]()}
	}
	*s = idString(n)
	return nil
}

// parseJWTApp parses a Box app-config file named name. A non-empty passphrase
// overrides the file's. Errors name the file and the field; they never quote
// the file's content (a JSON syntax error is reported by offset only).
func parseJWTApp(name string, data []byte, passphrase string) (*jwtApp, error) {
	var cfg boxAppConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("box JWT config %s: malformed JSON at byte offset %d", name, syn.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return nil, fmt.Errorf("box JWT config %s: field %q must be a JSON %s", name, typ.Field, typ.Type)
		default:
			return nil, fmt.Errorf("box JWT config %s: not a Box app config (JSON object expected)", name)
		}
	}
	s := cfg.BoxAppSettings
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"boxAppSettings.clientID", s.ClientID},
		{"boxAppSettings.clientSecret", s.ClientSecret},
		{"boxAppSettings.appAuth.publicKeyID", s.AppAuth.PublicKeyID},
		{"boxAppSettings.appAuth.privateKey", s.AppAuth.PrivateKey},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("box JWT config %s: missing %s", name, strings.Join(missing, ", "))
	}
	if passphrase == "" {
		passphrase = s.AppAuth.Passphrase
	}
	key, err := decodePrivateKey([]byte(s.AppAuth.PrivateKey), passphrase)
	if err != nil {
		return nil, fmt.Errorf("box JWT config %s: boxAppSettings.appAuth.privateKey: %w", name, err)
	}
	return &jwtApp{
		clientID:     s.ClientID,
		clientSecret: s.ClientSecret,
		keyID:        s.AppAuth.PublicKeyID,
		key:          key,
		enterpriseID: string(cfg.EnterpriseID),
		userID:       string(cfg.UserID),
	}, nil
}

// decodePrivateKey decodes an RSA key from PEM: encrypted PKCS#8 (what Box
// generates), unencrypted PKCS#8 or PKCS#1. Errors never contain key bytes.
func decodePrivateKey(pemData []byte, passphrase string) (key *rsa.PrivateKey, err error) {
	// youmark/pkcs8 slices and decrypts attacker-shaped ASN.1 without all the
	// checks checkEncrypted makes; a panic there must not take the agent down.
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, errors.New("malformed encrypted key")
		}
	}()
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	var parsed any
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if passphrase == "" {
			return nil, errors.New("key is encrypted but no passphrase is set (boxAppSettings.appAuth.passphrase or passphrase)")
		}
		if err := checkEncrypted(block.Bytes); err != nil {
			return nil, err
		}
		parsed, err = pkcs8.ParsePKCS8PrivateKey(block.Bytes, []byte(passphrase))
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt (wrong passphrase or corrupted key): %w", err)
		}
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		if _, ok := block.Headers["DEK-Info"]; ok {
			return nil, errors.New("legacy encrypted PEM is not supported; convert it to encrypted PKCS#8")
		}
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block type %q", sanitize(block.Type, 40))
	}
	if err != nil {
		return nil, fmt.Errorf("malformed key: %w", err)
	}
	rsaKey, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is a %T, Box needs an RSA key", parsed)
	}
	return rsaKey, nil
}

// Bounds on the key-derivation parameters of an encrypted key, far above what
// Box and OpenSSL generate, so a malformed file cannot stall the process.
const (
	maxPBKDF2Iterations = 10_000_000
	maxScryptWork       = 256 << 20 // 128 * N * r * p: memory times passes
)

var (
	oidPBES2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidAESPrefix = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1}
	oidDESEDE3   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// checkEncrypted validates the PBES2 structure of an encrypted PKCS#8 key
// before youmark/pkcs8 runs the KDF and the cipher on it: KDF cost bounded,
// IV the cipher's block size, ciphertext whole blocks.
func checkEncrypted(der []byte) error {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return errors.New("malformed encrypted PKCS#8 structure")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return errors.New("unsupported key encryption (only PKCS#5 v2.0 PBES2 is supported)")
	}
	var params struct {
		KDF    pkix.AlgorithmIdentifier
		Scheme pkix.AlgorithmIdentifier
	}
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return errors.New("malformed PBES2 parameters")
	}
	switch kdf := params.KDF.Algorithm; {
	case kdf.Equal(oidPBKDF2):
		var p struct { // trailing keyLength and prf are allowed and ignored
			Salt       []byte
			Iterations int
		}
		if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &p); err != nil {
			return errors.New("malformed PBKDF2 parameters")
		}
		if p.Iterations < 1 || p.Iterations > maxPBKDF2Iterations {
			//nolint:revive // string-format false positive: PBKDF2 is an acronym, lowercasing it would misname the algorithm
			return fmt.Errorf("PBKDF2 iteration count %d outside 1..%d", p.Iterations, maxPBKDF2Iterations)
		}
	case kdf.Equal(oidScrypt):
		var p struct {
			Salt    []byte
			N, R, P int
		}
		if _, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &p); err != nil {
			return errors.New("malformed scrypt parameters")
		}
		if p.N < 2 || p.N&(p.N-1) != 0 || p.R < 1 || p.P < 1 || p.R > maxScryptWork || p.P > maxScryptWork ||
			p.N > maxScryptWork/128/p.R/p.P {
			return errors.New("scrypt parameters out of bounds")
		}
	default:
		return errors.New("unsupported key derivation function")
	}
	var blockSize int
	switch alg := params.Scheme.Algorithm; {
	case len(alg) == len(oidAESPrefix)+1 && alg[:len(oidAESPrefix)].Equal(oidAESPrefix):
		blockSize = 16
	case alg.Equal(oidDESEDE3):
		blockSize = 8
	default:
		return errors.New("unsupported key cipher")
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil || len(iv) != blockSize {
		return errors.New("malformed cipher parameters")
	}
	if len(info.Data) == 0 || len(info.Data)%blockSize != 0 {
		return errors.New("encrypted key length is not a whole number of cipher blocks")
	}
	return nil
}
