package safefile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func requirePerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return // only the read-only bit exists there
	}
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, st.Mode().Perm())
}

func TestWriteAtomic_CreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "refresh_token")

	require.NoError(t, WriteAtomic(path, []byte("first"), 0o600))
	require.Equal(t, "first", readFile(t, path))
	requirePerm(t, path, 0o600)

	// An existing, wider file is replaced whole and narrowed to perm.
	require.NoError(t, os.Chmod(path, 0o640))
	require.NoError(t, WriteAtomic(path, []byte("2nd"), 0o600))
	require.Equal(t, "2nd", readFile(t, path))
	requirePerm(t, path, 0o600)

	// perm is applied as given, whatever the umask (a state file may be 0640).
	require.NoError(t, WriteAtomic(path, []byte("third"), 0o640))
	requirePerm(t, path, 0o640)

	require.NoError(t, WriteAtomic(path, nil, 0o600))
	require.Empty(t, readFile(t, path))
	require.Equal(t, []string{"refresh_token"}, dirEntries(t, dir), "no temporary files left behind")
}

func TestWriteAtomic_Errors(t *testing.T) {
	dir := t.TempDir()
	const data = "secret-data-never-in-errors"

	// Rename onto a non-empty directory fails: the error names the file,
	// the temporary file is removed.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "x"), nil, 0o600))
	err := WriteAtomic(sub, []byte(data), 0o600)
	require.ErrorContains(t, err, "replacing "+sub)
	require.NotContains(t, err.Error(), data)
	require.Equal(t, []string{"sub"}, dirEntries(t, dir))

	missing := filepath.Join(dir, "missing", "f")
	err = WriteAtomic(missing, []byte(data), 0o600)
	require.ErrorContains(t, err, "creating temporary file for "+missing)
	require.NotContains(t, err.Error(), data)
}

// TestWriteAtomic_NeverTorn checks what a crash could expose: the file is
// replaced, never rewritten in place, so a reader (or the next process after
// a crash) sees a whole old or a whole new content, and a descriptor opened
// before the write keeps the old content entirely.
func TestWriteAtomic_NeverTorn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "position")
	old := bytes.Repeat([]byte("o"), 64<<10)
	require.NoError(t, WriteAtomic(path, old, 0o600))

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, WriteAtomic(path, []byte("new"), 0o600))
	held, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.Equal(t, "new", string(held), "the path names the new content")
	var got bytes.Buffer
	_, err = got.ReadFrom(f)
	require.NoError(t, err)
	require.Equal(t, old, got.Bytes(), "the old file was not truncated or overwritten")

	// Readers racing with writers only ever see complete versions.
	versions := [][]byte{bytes.Repeat([]byte("a"), 32<<10), bytes.Repeat([]byte("b"), 48<<10)}
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		torn atomic.Int32
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			data, err := os.ReadFile(path)
			if err != nil || (!bytes.Equal(data, versions[0]) && !bytes.Equal(data, versions[1]) && string(data) != "new") {
				torn.Add(1)
			}
		}
	}()
	for i := range 200 {
		if err := WriteAtomic(path, versions[i%2], 0o600); err != nil {
			stop.Store(true)
			wg.Wait()
			require.NoError(t, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	require.Zero(t, torn.Load(), "a reader saw a partial file or no file")
	require.Equal(t, []string{"position"}, dirEntries(t, dir))
}
