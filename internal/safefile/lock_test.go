package safefile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAcquire_ConflictInProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "refresh_token")
	require.NoError(t, os.WriteFile(path, []byte("rt"), 0o600))

	a, err := Acquire(path)
	require.NoError(t, err)
	require.Equal(t, path, a.Path())
	requirePerm(t, path+".lock", 0o600)

	b, err := Acquire(path)
	require.ErrorIs(t, err, ErrLocked)
	require.Nil(t, b)
	require.EqualError(t, err, path+" is in use by another instance (lock file "+path+".lock is held)")

	// Replacing the file (a new inode) does not free it: the lock is on the sidecar.
	require.NoError(t, WriteAtomic(a.Path(), []byte("rt-2"), 0o600))
	_, err = Acquire(path)
	require.ErrorIs(t, err, ErrLocked)

	// Release, then re-acquire; Release is idempotent and nil-safe.
	require.NoError(t, a.Release())
	require.NoError(t, a.Release())
	require.NoError(t, (*Lock)(nil).Release())
	require.Empty(t, (*Lock)(nil).Path())
	c, err := Acquire(path)
	require.NoError(t, err)
	require.NoError(t, c.Release())
	require.FileExists(t, path+".lock", "the sidecar is never deleted")
}

func TestAcquire_FileNeedNotExist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	a, err := Acquire(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Release()) })
	require.NoFileExists(t, path, "Acquire creates only the lock file")
	require.Equal(t, []string{"state.json.lock"}, dirEntries(t, dir))

	_, err = Acquire(filepath.Join(dir, "missing", "state.json"))
	require.ErrorContains(t, err, filepath.Join(dir, "missing"))
	require.NotErrorIs(t, err, ErrLocked)
}

func TestAcquire_SpellingsCollide(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("creating symlinks needs privileges on Windows")
	}
	realDir := t.TempDir()
	path := filepath.Join(realDir, "refresh_token")
	require.NoError(t, os.WriteFile(path, []byte("rt"), 0o600))
	links := t.TempDir()
	fileLink := filepath.Join(links, "token-link")
	require.NoError(t, os.Symlink(path, fileLink))
	dirLink := filepath.Join(links, "dir-link")
	require.NoError(t, os.Symlink(realDir, dirLink))
	relLink := filepath.Join(links, "relative-link")
	rel, err := filepath.Rel(links, path)
	require.NoError(t, err)
	require.NoError(t, os.Symlink(rel, relLink))

	a, err := Acquire(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Release()) })
	for _, spelling := range []string{
		fileLink,
		relLink,
		filepath.Join(dirLink, "refresh_token"),
		filepath.Join(realDir, ".", "sub", "..", "refresh_token"),
	} {
		_, err := Acquire(spelling)
		require.ErrorIs(t, err, ErrLocked, spelling)
		require.ErrorContains(t, err, a.Path()+" is in use", spelling)
	}

	// A relative spelling from the working directory.
	t.Chdir(realDir)
	_, err = Acquire("refresh_token")
	require.ErrorIs(t, err, ErrLocked)

	// A file not created yet: through a linked directory, and through a
	// dangling symlink pointing at it.
	future := filepath.Join(realDir, "state.json")
	danglingLink := filepath.Join(links, "state-link")
	require.NoError(t, os.Symlink(future, danglingLink))
	b, err := Acquire(filepath.Join(dirLink, "state.json"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Release()) })
	require.Equal(t, future, b.Path())
	_, err = Acquire(future)
	require.ErrorIs(t, err, ErrLocked)
	_, err = Acquire(danglingLink)
	require.ErrorIs(t, err, ErrLocked)
}

// holderEnv makes the test binary, re-executed as a child, hold the lock on
// the file it names until its stdin closes.
const holderEnv = "SAFEFILE_TEST_HOLD_LOCK"

// TestMain lets the test binary serve as the lock-holding child of the
// cross-process tests.
func TestMain(m *testing.M) {
	if path := os.Getenv(holderEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

// holdLock is the child: it reports on its first line of output whether it
// got the lock on path, and holds it until its stdin closes (the parent
// closed it, or died).
func holdLock(path string) int {
	l, err := Acquire(path)
	switch {
	case errors.Is(err, ErrLocked):
		_, err = fmt.Println("locked elsewhere: " + err.Error())
	case err != nil:
		_, err = fmt.Println("error: " + err.Error())
	default:
		if _, err = fmt.Println("holding"); err == nil {
			_, err = io.Copy(io.Discard, os.Stdin)
		}
		if rerr := l.Release(); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return 2
	}
	return 0
}

// child is the test binary re-executed to take the lock on path.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	first  string // its first line: "holding", or why not
	waited bool
}

func startChild(t *testing.T, path string) *child {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		if !c.waited {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Logf("lock holder: %v", err)
			}
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	c.first = strings.TrimSpace(line)
	return c
}

// stop closes the child's stdin, so it releases and exits, and waits for it.
func (c *child) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, c.stdin.Close())
	c.waited = true
	require.NoError(t, c.cmd.Wait())
}

func TestAcquire_ConflictAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refresh_token")
	require.NoError(t, os.WriteFile(path, []byte("rt"), 0o600))

	t.Run("held by another process", func(t *testing.T) {
		c := startChild(t, path)
		require.Equal(t, "holding", c.first)
		_, err := Acquire(path)
		require.ErrorIs(t, err, ErrLocked)
		require.EqualError(t, err, path+" is in use by another instance (lock file "+path+".lock is held)")
		c.stop(t)
		l, err := Acquire(path)
		require.NoError(t, err)
		require.NoError(t, l.Release())
	})
	t.Run("held by this process", func(t *testing.T) {
		l, err := Acquire(path)
		require.NoError(t, err)
		c := startChild(t, path)
		require.Equal(t, "locked elsewhere: "+path+" is in use by another instance (lock file "+path+".lock is held)", c.first)
		c.stop(t)
		require.NoError(t, l.Release())
		c = startChild(t, path)
		require.Equal(t, "holding", c.first)
		c.stop(t)
	})
	t.Run("holder killed", func(t *testing.T) {
		c := startChild(t, path)
		require.Equal(t, "holding", c.first)
		require.NoError(t, c.cmd.Process.Kill())
		c.waited = true
		var exit *exec.ExitError
		require.ErrorAs(t, c.cmd.Wait(), &exit)
		l, err := Acquire(path)
		require.NoError(t, err, "the operating system drops the lock of a dead process")
		require.NoError(t, l.Release())
	})
}
