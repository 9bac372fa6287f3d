#!/usr/bin/env bash
# Runs every check CI runs (the README's test command): bash scripts/test.sh
#
# Stages, in order (each can be skipped for local speed; the default is everything):
#   fmt    gofmt -l must list nothing                                  SKIP_FMT=1
#   mod    go.mod/go.sum tidy (go mod tidy -diff; tools/pictures too), go mod verify  SKIP_MOD=1
#   vet    go vet ./... and of the nested module tools/pictures         SKIP_VET=1
#   cross  the other platforms Telegraf ships for: go vet $CROSS_PKGS (default ./internal/...,
#          tests included) for GOOS=windows, GOOS=darwin and GOARCH=386, then the 386 unit
#          tests of $CROSS_PKGS (32-bit int, 64-bit atomics' alignment). About 100 s with a cold
#          build cache, seconds once warm; CROSS_PKGS=./... vets everything (about 4 minutes per
#          platform cold on 2 cores: Telegraf's dependency tree)  SKIP_CROSS=1
#   lint   golangci-lint v2.7.2 (installed into .cache/bin), config verify, run ./...   SKIP_LINT=1
#   docs   Telegraf's readme_linter on the plugin README, and the README's embedded
#          sample.conf / docs/includes text must be what readme_config_includer generates  SKIP_DOCS=1
#   e2e    prerequisites for plugin_test/: builds Telegraf v1.37.2, cmd/telegraf-box and the
#          test runner plugin_test/telegrafrun into .cache/bin, starts a throw-away InfluxDB
#          (stopped on exit)                                           SKIP_E2E=1
#   test   go test -race -count=1 -pgo=off $TEST_PKGS (default ./...)   SKIP_TEST=1
#   bench  the benchmark harness's smoke run (bash scripts/bench.sh -smoke: telegraf-box,
#          the Box Node SDK and box_events compiled in over 5,000 events, then a short
#          latency run; under a minute). It proves the harness works and asserts no
#          timing. Without node/npm or the npm registry the Node SDK peer is skipped
#          with a notice                                               SKIP_BENCH=1
#   fuzz   each `func Fuzz*` target for FUZZTIME (default 10s)          SKIP_FUZZ=1 or FUZZTIME=0
#          (a run that Go's fuzzer ends with "context deadline exceeded" and no failing
#          input, a known flake of the engine at the time limit, is run once more)
# Other knobs: TEST_TIMEOUT (default 20m; it bounds each test binary, and plugin_test alone
#   takes 7 to 8 minutes on a busy 2-core machine), TEST_FLAGS (extra go test flags, e.g. "-short" or "-v"),
#   TEST_PKGS (packages for the test stage, default ./...). Only the end-to-end tests, e.g.:
#   SKIP_FMT=1 SKIP_MOD=1 SKIP_VET=1 SKIP_LINT=1 SKIP_DOCS=1 SKIP_BENCH=1 SKIP_FUZZ=1 TEST_PKGS=./plugin_test/ \
#     TEST_FLAGS="-v -run TestIntegrationDelivery" bash scripts/test.sh
#
# What the end-to-end tests get (exported for `go test`, only when the e2e stage ran):
#   TELEGRAF_BIN       absolute path of a Telegraf 1.37.2 binary (custom build: inputs.execd,
#                      outputs.file, outputs.influxdb, processors.converter)
#   TELEGRAF_BOX_BIN   absolute path of the freshly built cmd/telegraf-box
#   TELEGRAFRUN_BIN    absolute path of plugin_test/telegrafrun: Telegraf's agent with box_events
#                      compiled in (test tooling, never shipped)
#   INFLUXDB_URL       http://127.0.0.1:PORT of a running InfluxDB 1.x (no auth, empty). The delivery
#                      tests start their own instances with scripts/influxdb.sh, because they stop
#                      and restart InfluxDB mid-run; this one proves influxd is installed and runs
#   TELEGRAF_BOX_E2E=1 all of the above are provided: tests must fail, not skip, if one is unusable
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

readonly GOLANGCI_LINT_VERSION=v2.7.2
readonly TELEGRAF_VERSION=v1.37.2
readonly PLUGIN_DIR=plugins/inputs/box_events
cache=$root/.cache
bin=$cache/bin
mkdir -p "$bin" "$cache/tmp"

# ---------------------------------------------------------------------------------------------
# Stage bookkeeping: headers, per-stage times, a summary line, and a loud failure message.
started=$SECONDS
stage_name=""
stage_start=0
results=()
influx_dir=""
scratch=""
lint_pid=""

finish_stage() {
  if [[ -n $stage_name ]]; then
    results+=("$stage_name ok $((SECONDS - stage_start))s")
    stage_name=""
  fi
}

# stage <name> <description> <skip-var>: returns 1 (caller skips the stage) when ${skip-var} is 1.
stage() {
  finish_stage
  if [[ ${!3:-0} == 1 ]]; then
    results+=("$1 SKIPPED($3=1)")
    printf '\n==> [%s] skipped (%s=1)\n' "$1" "$3"
    return 1
  fi
  stage_name=$1
  stage_start=$SECONDS
  printf '\n==> [%s] %s\n' "$1" "$2"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

on_exit() {
  local rc=$?
  [[ -z $lint_pid ]] || kill -- "-$lint_pid" 2>/dev/null || true
  [[ -z $scratch ]] || rm -rf "$scratch"
  if [[ -n $influx_dir ]]; then
    bash scripts/influxdb.sh stop "$influx_dir" || true
  fi
  if [[ $rc -ne 0 ]]; then
    local done_list
    done_list=$(printf '%s, ' "${results[@]}")
    [[ $done_list != ", " ]] || done_list="nothing"
    printf '\n==> test.sh: FAILED in stage [%s] (exit %d) after %ds; before it: %s\n' \
      "${stage_name:-setup}" "$rc" "$((SECONDS - started))" "${done_list%, }" >&2
  fi
}
trap on_exit EXIT

# Go files of this module: not the nested module tools/telegraf, not .cache, not testdata.
go_files() {
  find . \( -path ./.git -o -path ./.cache -o -path ./tools/telegraf -o -name testdata -o -name vendor \) -prune \
    -o -type f -name '*.go' -print
}

# Packages of the main module (./... never enters nested modules such as tools/telegraf).
[[ -n $(go_files) ]] || fail "no Go files in $root"

# ---------------------------------------------------------------------------------------------
# golangci-lint: reuse .cache/bin or $(go env GOPATH)/bin when it is the pinned version. Otherwise
# build it now in the background (1-3 minutes cold) so that its downloads and compilation overlap
# with the fmt/mod/vet stages; the lint stage waits for it.
lint_version_ok() { [[ -x $1 ]] && "$1" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; }
lint=""
lint_pid=""
lint_t0=$SECONDS
if [[ ${SKIP_LINT:-0} != 1 ]]; then
  for candidate in "$bin/golangci-lint" "$(go env GOPATH)/bin/golangci-lint"; do
    if lint_version_ok "$candidate"; then
      lint=$candidate
      break
    fi
  done
  if [[ -z $lint ]]; then
    lint=$bin/golangci-lint
    echo "building golangci-lint $GOLANGCI_LINT_VERSION into $bin in the background"
    # setsid: own process group, so that on_exit can stop go and its compilers together.
    GOBIN=$bin setsid -w go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" \
      </dev/null >"$cache/tmp/golangci-lint-install.log" 2>&1 &
    lint_pid=$!
  fi
fi

# ---------------------------------------------------------------------------------------------
if stage fmt "gofmt -l" SKIP_FMT; then
  unformatted=$(go_files | xargs gofmt -l)
  if [[ -n $unformatted ]]; then
    printf '%s\n' "$unformatted" >&2
    fail "gofmt: the files above are not formatted (run: gofmt -w <file>)"
  fi
fi

if stage mod "go mod tidy -diff, go mod verify" SKIP_MOD; then
  if ! go mod tidy -diff >"$cache/tmp/tidy.diff"; then
    head -n 60 "$cache/tmp/tidy.diff" >&2
    fail "go.mod/go.sum are not tidy ($(wc -l <"$cache/tmp/tidy.diff") diff lines, first 60 above): run 'go mod tidy'"
  fi
  go mod verify >/dev/null
  # tools/pictures is a module of its own (its plotting library stays out of ours).
  if ! go -C tools/pictures mod tidy -diff >"$cache/tmp/tidy.diff"; then
    head -n 60 "$cache/tmp/tidy.diff" >&2
    fail "tools/pictures/go.mod is not tidy: run 'cd tools/pictures && go mod tidy'"
  fi
fi

if stage vet "go vet ./... (and tools/pictures)" SKIP_VET; then
  go vet ./...
  go -C tools/pictures vet ./...
fi

# Telegraf ships packages for Windows, macOS and 32-bit Linux (i386, armhf), and box_events is
# compiled into them; these platforms differ from linux/amd64 in file locks (internal/safefile),
# signals and the size of int (a position or a size that overflows an int on 32 bits).
cross_pkgs=${CROSS_PKGS:-./internal/...}
if stage cross "go vet $cross_pkgs for windows, darwin and 386; 386 unit tests" SKIP_CROSS; then
  for target in GOOS=windows GOOS=darwin GOARCH=386; do
    echo "go vet ($target) $cross_pkgs"
    # shellcheck disable=SC2086 # cross_pkgs is a list
    env "$target" go vet $cross_pkgs
  done
  # A 64-bit atomic operation on a field the compiler did not align panics only at run time,
  # and only on 32-bit platforms; 386 binaries run natively on amd64 Linux.
  if [[ $(go env GOHOSTARCH) == amd64 && $(go env GOHOSTOS) == linux ]]; then
    # shellcheck disable=SC2086 # cross_pkgs is a list
    GOARCH=386 go test -count=1 -timeout "${TEST_TIMEOUT:-20m}" $cross_pkgs
  else
    echo "not on linux/amd64: the 386 unit tests are skipped"
  fi
fi

# ---------------------------------------------------------------------------------------------
if stage lint "golangci-lint $GOLANGCI_LINT_VERSION run ./..." SKIP_LINT; then
  if [[ -n $lint_pid ]]; then
    echo "waiting for the golangci-lint build started at the beginning"
    if ! wait "$lint_pid"; then
      lint_pid=""
      cat "$cache/tmp/golangci-lint-install.log" >&2
      fail "go install golangci-lint@$GOLANGCI_LINT_VERSION failed"
    fi
    lint_pid=""
    echo "golangci-lint built in $((SECONDS - lint_t0))s"
  fi
  lint_version_ok "$lint" || fail "$lint does not report version $GOLANGCI_LINT_VERSION"
  # `config verify` fetches its JSON schema from golangci-lint.run unless given a file; the
  # schema of the release ships in the module (golangci.jsonschema.json = the release's schema).
  # (from /, so that the download is not attributed to our go.mod)
  lint_mod=$(cd / && go mod download -json "github.com/golangci/golangci-lint/v2@$GOLANGCI_LINT_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  schema=$lint_mod/jsonschema/golangci.jsonschema.json
  [[ -f $schema ]] || fail "golangci-lint JSON schema not found at $schema"
  "$lint" config verify --schema "file://$schema"
  # --allow-serial-runners: wait for another golangci-lint on this machine instead of failing.
  "$lint" run --allow-serial-runners ./...
fi

# ---------------------------------------------------------------------------------------------
if stage docs "readme_linter + README/sample.conf consistency ($PLUGIN_DIR)" SKIP_DOCS; then
  readme=$PLUGIN_DIR/README.md
  [[ -f $readme ]] || fail "$readme is missing"
  [[ -f $PLUGIN_DIR/sample.conf ]] || fail "$PLUGIN_DIR/sample.conf is missing"
  grep -q '^```toml @sample.conf' "$readme" || fail "$readme has no '\`\`\`toml @sample.conf' block"

  # The linter guesses the plugin type from the relative path, so it must run from the root.
  go run "github.com/influxdata/telegraf/tools/readme_linter@$TELEGRAF_VERSION" -quiet "$readme"

  # Every <!-- @/docs/includes/... --> the README names must exist (the includer only logs).
  while IFS= read -r inc; do
    [[ -f .$inc ]] || fail "$readme includes $inc, which does not exist (copy it from Telegraf $TELEGRAF_VERSION)"
  done < <(grep -o '<!-- *@/[^ ]*' "$readme" | sed 's/^<!-- *@//')

  # Regenerate the README in a scratch copy of the layout the includer expects
  # (<root>/plugins/inputs/box_events + <root>/docs), then compare.
  scratch=$(mktemp -d "$cache/tmp/docs.XXXXXX")
  mkdir -p "$scratch/$(dirname "$PLUGIN_DIR")"
  cp -R "$PLUGIN_DIR" "$scratch/$PLUGIN_DIR"
  cp -R docs "$scratch/docs"
  if ! (cd "$scratch/$PLUGIN_DIR" &&
        go run "github.com/influxdata/telegraf/tools/readme_config_includer@$TELEGRAF_VERSION") \
        >"$scratch/includer.log" 2>&1 || grep -q 'Ignoring' "$scratch/includer.log"; then
    cat "$scratch/includer.log" >&2
    fail "readme_config_includer failed"
  fi
  if ! diff -u "$readme" "$scratch/$PLUGIN_DIR/README.md"; then
    fail "$readme is out of date with sample.conf or docs/includes; regenerate it with:
  (cd $PLUGIN_DIR && go run github.com/influxdata/telegraf/tools/readme_config_includer@$TELEGRAF_VERSION)"
  fi
fi

# ---------------------------------------------------------------------------------------------
if stage e2e "end-to-end prerequisites: Telegraf ${TELEGRAF_VERSION#v}, telegraf-box, InfluxDB" SKIP_E2E; then
  compgen -G "plugin_test/*_test.go" >/dev/null || fail "plugin_test/ has no tests (SKIP_E2E=1 to skip)"
  bash scripts/build-telegraf.sh "$bin/telegraf"
  bash scripts/build-telegraf-box.sh "$bin/telegraf-box"
  # Always rebuilt, like telegraf-box: it compiles the plugin in, so it must never be stale.
  # No -trimpath: the same flags as go vet, so its packages come from the build cache.
  go build -C "$root" -buildvcs=false -o "$bin/telegrafrun" ./plugin_test/telegrafrun
  influx_dir=$cache/influxdb
  bash scripts/influxdb.sh stop "$influx_dir"
  rm -rf "$influx_dir"
  INFLUXDB_URL=$(bash scripts/influxdb.sh start "$influx_dir")
  export INFLUXDB_URL TELEGRAF_BIN=$bin/telegraf TELEGRAF_BOX_BIN=$bin/telegraf-box \
    TELEGRAFRUN_BIN=$bin/telegrafrun TELEGRAF_BOX_E2E=1
  echo "TELEGRAF_BIN=$TELEGRAF_BIN TELEGRAF_BOX_BIN=$TELEGRAF_BOX_BIN TELEGRAFRUN_BIN=$TELEGRAFRUN_BIN INFLUXDB_URL=$INFLUXDB_URL"
fi

if stage test "go test -race -count=1 -pgo=off ${TEST_PKGS:-./...}" SKIP_TEST; then
  # -race needs cgo, i.e. a C compiler (Go turns cgo off when none is found).
  if [[ $(go env CGO_ENABLED) != 1 ]]; then
    echo "no C compiler for -race: installing gcc with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
      gcc libc6-dev >/dev/null
    [[ $(go env CGO_ENABLED) == 1 ]] || fail "cgo is still disabled; go test -race cannot run"
  fi
  # -pgo=off: cmd/telegraf-box's default.pgo (see scripts/pgo.sh) would have its test binary's
  # dependencies compiled a second time, with the profile, for nothing a test checks.
  # shellcheck disable=SC2086 # TEST_FLAGS and TEST_PKGS are lists
  go test -race -count=1 -pgo=off -timeout "${TEST_TIMEOUT:-20m}" ${TEST_FLAGS:-} ${TEST_PKGS:-./...}
fi

# ---------------------------------------------------------------------------------------------
if stage bench "benchmark harness smoke run (bash scripts/bench.sh -smoke)" SKIP_BENCH; then
  # The report is progress enough; it fails only when a peer does not deliver or errs.
  bash scripts/bench.sh -smoke </dev/null
fi

# ---------------------------------------------------------------------------------------------
fuzztime=${FUZZTIME:-10s}
[[ $fuzztime != 0 && $fuzztime != 0s ]] || SKIP_FUZZ=1
fuzz_once() {
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2" </dev/null >"$cache/tmp/fuzz.log" 2>&1
}
if stage fuzz "fuzz targets, $fuzztime each" SKIP_FUZZ; then
  targets=0
  while IFS='|' read -r dir pkg; do
    compgen -G "$dir/*_test.go" >/dev/null || continue
    names=$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go | sort -u)
    for name in $names; do
      t0=$SECONDS
      rc=0
      fuzz_once "$name" "$pkg" || rc=$?
      if [[ $rc -ne 0 ]] && grep -q 'context deadline exceeded' "$cache/tmp/fuzz.log" &&
        ! grep -q 'Failing input written' "$cache/tmp/fuzz.log"; then
        echo "fuzz engine stopped $name with 'context deadline exceeded' and no failing input; running it again"
        rc=0
        fuzz_once "$name" "$pkg" || rc=$?
      fi
      if [[ $rc -ne 0 ]]; then
        cat "$cache/tmp/fuzz.log" >&2
        fail "fuzz target $name in $pkg failed; the failing input is under $dir/testdata/fuzz/$name/ (commit it as a regression test once fixed)"
      fi
      echo "ok  $name ($pkg) $((SECONDS - t0))s"
      targets=$((targets + 1))
    done
  done < <(go list -f '{{.Dir}}|{{.ImportPath}}' ./...)
  [[ $targets -gt 0 ]] || fail "no fuzz targets (func FuzzXxx(f *testing.F)) found (SKIP_FUZZ=1 to skip)"
  stage_name="fuzz($targets targets)"
fi

finish_stage
summary=$(printf '%s, ' "${results[@]}")
printf '\n==> test.sh: ALL PASSED in %ds: %s\n' "$((SECONDS - started))" "${summary%, }"
