package boxauth

import (
	"fmt"
	"io"
	"os"
)

// readLimited reads the file at path, what, if it holds at most limit bytes. It reads at
// most limit+1 bytes whatever the path names (a device such as /dev/zero, a pipe, a huge
// file), so a wrong path is an error rather than a process that reads without end.
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
	return data, nil
}
