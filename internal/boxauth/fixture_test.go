package boxauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFixture_Generate writes testdata/box_config.json (with -update): a Box
// app config around a freshly generated 2048-bit test key, encrypted as PKCS#8
// with the fixture passphrase, exactly as the Box Developer Console emits it.
func TestFixture_Generate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the fixture")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	data, err := json.MarshalIndent(appConfig(encryptedPEM(t, key, fixturePassphrase, nil), fixturePassphrase, nil), "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fixturePath, append(data, '\n'), 0o640))
}

func TestFixture_Decrypts(t *testing.T) {
	data, key := loadFixture(t)
	require.Equal(t, 2048, key.N.BitLen())
	app, err := parseJWTApp(fixturePath, data, "")
	require.NoError(t, err)
	require.Equal(t, fixtureClientID, app.clientID)
	require.Equal(t, fixtureClientSecret, app.clientSecret)
	require.Equal(t, fixtureKeyID, app.keyID)
	require.Equal(t, fixtureEnterpriseID, app.enterpriseID)
	require.Empty(t, app.userID)
}
