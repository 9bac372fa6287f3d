#!/usr/bin/env bash
# Builds a real Telegraf v1.37.2 with only the plugins the end-to-end tests need
# (inputs.execd, outputs.file, outputs.influxdb, and processors.converter for the README's
# failed-login IP tag) into .cache/bin/telegraf.
#
# The build uses the nested module tools/telegraf (its own go.mod/go.sum, committed), not
# our go.mod: importing cmd/telegraf breaks `go mod tidy` (bou.ke/monkey, see
# /work/shared/TELEGRAF.md section 8A). Do not run plain `go mod tidy` in tools/telegraf;
# to bump Telegraf: cd tools/telegraf && go get -tool github.com/influxdata/telegraf/cmd/telegraf@vX.Y.Z
#
# Skips the build when the binary exists, reports the version and has the plugins.
# Usage: scripts/build-telegraf.sh [output-path]   (default: <repo>/.cache/bin/telegraf)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=1.37.2
tags=custom,inputs.execd,outputs.file,outputs.influxdb,processors.converter
out=${1:-$root/.cache/bin/telegraf}
case $out in /*) ;; *) out=$PWD/$out ;; esac

up_to_date() {
  [[ -x $out ]] || return 1
  [[ $("$out" --version 2>/dev/null) == "Telegraf $version"* ]] || return 1
  local plugins
  plugins=$("$out" plugins 2>/dev/null) || return 1
  local p
  for p in inputs.execd outputs.file outputs.influxdb processors.converter; do
    grep -qx "$p" <<<"$plugins" || return 1
  done
}

if up_to_date; then
  exit 0
fi

echo "build-telegraf: building Telegraf $version ($tags) -> $out" >&2
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# -mod=readonly: the committed go.mod/go.sum are the whole truth (overrides a GOFLAGS=-mod=mod).
# Default cgo and no -trimpath on purpose: the packages Telegraf shares with our module (its core,
# the stdlib) are then reused from the build cache filled by `go vet`/`go test` (17 s instead of
# about 60 s on a cold machine).
go build -C "$root/tools/telegraf" -mod=readonly -tags "$tags" \
  -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=$version" \
  -o "$tmp" github.com/influxdata/telegraf/cmd/telegraf
mv -f "$tmp" "$out"
if ! up_to_date; then
  echo "build-telegraf: FAILED: $out does not report Telegraf $version with the expected plugins" >&2
  "$out" --version >&2 || true
  exit 1
fi
