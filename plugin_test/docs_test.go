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
// repository and the two sample configurations, as paths relative to the
// repository root.
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

// markdownLink is an inline link's target or a reference definition's.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)|(?m)^\[[^\]]+\]:\s*(\S+)`)

// headingAnchors returns the anchors GitHub gives the headings of a Markdown
// document: lower case, punctuation but - and _ removed, spaces as -.
func headingAnchors(doc string) map[string]bool {
	anchors := make(map[string]bool)
	inCode := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		title, _, _ = strings.Cut(title, "<!--")
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestDocs_RelativeLinksResolve: every relative link of a Markdown document
// leads to a file of the repository, and to a heading of it when it names one.
// Links into Telegraf's own docs/ (the plugin README and docs/includes, which
// follow Telegraf's layout and resolve in Telegraf's tree) are left out.
func TestDocs_RelativeLinksResolve(t *testing.T) {
	for _, doc := range docFiles(t) {
		if !strings.HasSuffix(doc, ".md") {
			continue
		}
		text := readDoc(t, doc)
		for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
			link := m[1] + m[2]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") ||
				strings.HasSuffix(strings.SplitN(link, "#", 2)[0], "docs/CONFIGURATION.md") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			targetText := text
			if target != "" {
				path := filepath.Join("..", filepath.FromSlash(filepath.Dir(doc)), filepath.FromSlash(target))
				_, err := os.Stat(path)
				require.NoError(t, err, "%s links to %s, which does not exist", doc, link)
				if anchor == "" || !strings.HasSuffix(target, ".md") {
					continue
				}
				buf, err := os.ReadFile(path)
				require.NoError(t, err)
				targetText = string(buf)
			}
			if anchor != "" {
				require.True(t, headingAnchors(targetText)[anchor], "%s links to %s: no such heading", doc, link)
			}
		}
	}
}

// sectionReference is a section named in prose: the README's "Delivery
// guarantees", the plugin README's "Metrics".
var sectionReference = regexp.MustCompile(`\b(plugin )?README's\s+"([^"]+)"`)

// TestDocs_SectionsNamedExist: a section a document sends the reader to by name
// is a heading of that README.
func TestDocs_SectionsNamedExist(t *testing.T) {
	comment := regexp.MustCompile(`(?m)^[ \t]*#+[ \t]?`)
	for _, doc := range docFiles(t) {
		text := readDoc(t, doc)
		if strings.HasSuffix(doc, ".conf") {
			text = comment.ReplaceAllString(text, "")
		}
		for _, m := range sectionReference.FindAllStringSubmatch(text, -1) {
			readme := "README.md"
			if m[1] != "" {
				readme = "plugins/inputs/box_events/README.md"
			}
			name := strings.Join(strings.Fields(m[2]), " ")
			anchor := strings.ReplaceAll(strings.ToLower(name), " ", "-")
			require.True(t, headingAnchors(readDoc(t, readme))[anchor], "%s sends the reader to the section %q of %s, which has none",
				doc, name, readme)
		}
	}
}
