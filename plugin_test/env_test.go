// Package plugin_test holds the end-to-end tests of telegraf-box: a real Telegraf
// (execd mode) or Telegraf's agent with the plugin compiled in (plugin_test/telegrafrun),
// the simulated Box of internal/boxsim running inside the test process, and InfluxDB 1.x.
//
// The prerequisites come from scripts/test.sh (see its header): TELEGRAF_BIN,
// TELEGRAF_BOX_BIN, TELEGRAFRUN_BIN and INFLUXDB_URL. Without them the tests skip;
// with TELEGRAF_BOX_E2E=1 a missing or unusable one fails the test instead, so CI
// cannot pass by skipping. BOX_E2E_SEED=n replays a logged seed.
package plugin_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireIntegration skips in -short mode: these tests start real processes and
// take tens of seconds each.
func requireIntegration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
}

// skipOrFailf skips the test because a prerequisite is missing, or fails it when
// scripts/test.sh promised every prerequisite (TELEGRAF_BOX_E2E=1).
func skipOrFailf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("TELEGRAF_BOX_E2E") == "1" {
		t.Fatalf("TELEGRAF_BOX_E2E=1 but %s", msg)
	}
	t.Skipf("end-to-end test: %s (run it through scripts/test.sh, which provides it)", msg)
}

// executableFromEnv returns the absolute path named by envVar after checking that
// it is an executable file.
func executableFromEnv(t *testing.T, envVar string) string {
	t.Helper()
	path := os.Getenv(envVar)
	if path == "" {
		skipOrFailf(t, "%s is not set", envVar)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		skipOrFailf(t, "%s=%q: %v", envVar, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		skipOrFailf(t, "%s=%q is not an executable file", envVar, path)
	}
	return abs
}

// requireVersion runs `bin flag` and checks its output names want, so that a stale or
// wrong binary is caught before a test spends a minute on it.
func requireVersion(t *testing.T, bin, flag, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, flag).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		skipOrFailf(t, "%s %s does not work or does not say %q (err %v): %s", bin, flag, want, err, out)
	}
}

// execdBinaries returns the real Telegraf and the telegraf-box execd binary.
func execdBinaries(t *testing.T) (telegraf, telegrafBox string) {
	t.Helper()
	telegraf = executableFromEnv(t, "TELEGRAF_BIN")
	telegrafBox = executableFromEnv(t, "TELEGRAF_BOX_BIN")
	requireVersion(t, telegraf, "--version", "Telegraf 1.37.2")
	requireVersion(t, telegrafBox, "-version", "telegraf-box")
	return telegraf, telegrafBox
}

// runnerBinary returns plugin_test/telegrafrun, Telegraf's agent with box_events
// compiled in.
func runnerBinary(t *testing.T) string {
	t.Helper()
	return executableFromEnv(t, "TELEGRAFRUN_BIN")
}

// requireInfluxDB checks that scripts/test.sh provisioned InfluxDB: INFLUXDB_URL
// answers /ping and influxd is installed. The delivery tests then run their own
// instance (startInfluxDB), because they stop and restart it mid-run.
func requireInfluxDB(t *testing.T) {
	t.Helper()
	url := os.Getenv("INFLUXDB_URL")
	if url == "" {
		skipOrFailf(t, "INFLUXDB_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ping", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		skipOrFailf(t, "INFLUXDB_URL=%s does not answer: %v", url, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		skipOrFailf(t, "INFLUXDB_URL=%s/ping answered %s", url, resp.Status)
	}
	if _, err := exec.LookPath("influxd"); err != nil {
		skipOrFailf(t, "influxd is not installed (scripts/influxdb.sh installs it)")
	}
}

// testSeed returns the seed of the simulated Box and of the test's own random
// choices (kill moments), logged so that a failure can be replayed.
func testSeed(t *testing.T) (uint64, *rand.Rand) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BOX_E2E_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "BOX_E2E_SEED")
	}
	t.Logf("seed %d (replay the simulated data and kill schedule with BOX_E2E_SEED=%d)", seed, seed)
	return seed, rand.New(rand.NewPCG(seed, 0x6532652d6b696c6c)) // reproducible on purpose
}
