package plugin_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docFiles are the files users read and copy from: every Markdown file of the
// repository (not the benchmark reports, records of past runs) and the two
// sample configurations, as paths relative to the repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".md") || strings.HasSuffix(rel, "sample.conf") {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, files, "README.md")
	require.Contains(t, files, "sample.conf")
	return files
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(rel)))
	require.NoError(t, err)
	return string(buf)
}

// scriptReference is a script of this repository named in a document.
var scriptReference = regexp.MustCompile(`\bscripts/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.sh\b`)

// TestDocs_ScriptsExist: every scripts/*.sh a document tells the user to run is in
// the repository.
func TestDocs_ScriptsExist(t *testing.T) {
	for _, doc := range docFiles(t) {
		for _, script := range slices.Compact(scriptReference.FindAllString(readDoc(t, doc), -1)) {
			require.FileExists(t, filepath.Join("..", script), "%s names %s, which does not exist", doc, script)
		}
	}
}
