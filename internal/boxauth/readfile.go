package boxauth

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// readLimited reads the file at path, what, if it holds at most limit bytes. It reads at
// most limit+1 bytes whatever the path names (a device such as /dev/zero, a pipe, a huge
// file), so a wrong path is an error rather than a process that reads without end.
// A leading UTF-8 byte order mark is dropped: Windows editors (Notepad's "UTF-8 with BOM",
// its default before Windows 10 1903) start a file with one, and it is no part of a JSON
// document or of a token.
func readLimited(path, what string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: larger than %d bytes", what, path, limit)
	}
	return bytes.TrimPrefix(data, utf8BOM), nil
}

var utf8BOM = []byte("\uFEFF")
