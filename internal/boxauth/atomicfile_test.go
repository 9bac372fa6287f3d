package boxauth

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("old content that is longer"), 0o640))
	require.NoError(t, writeFileAtomic(path, []byte("new"), 0o600))
	require.Equal(t, "new", readFile(t, path))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// Rename onto a directory fails: the error names files, the temp file is removed.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "x"), nil, 0o600))
	err = writeFileAtomic(sub, []byte("secret-data"), 0o600)
	require.ErrorContains(t, err, "replacing "+sub)
	require.NotContains(t, err.Error(), "secret-data")
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)

	err = writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600)
	require.ErrorContains(t, err, "creating temporary file")
}
