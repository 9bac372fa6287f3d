#!/usr/bin/env bash
# Builds the execd binary cmd/telegraf-box into .cache/bin/telegraf-box (or the given path).
# Always rebuilds (Go's build cache makes an unchanged rebuild take well under a second), so the
# end-to-end tests never run a stale binary.
# Usage: scripts/build-telegraf-box.sh [output-path]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/.cache/bin/telegraf-box}
case $out in /*) ;; *) out=$PWD/$out ;; esac

if [[ ! -d $root/cmd/telegraf-box ]]; then
  echo "build-telegraf-box: FAILED: $root/cmd/telegraf-box does not exist" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
# -buildvcs=false: no dependency on git state (shallow or unowned clones, no commits yet).
go build -C "$root" -buildvcs=false -o "$out" ./cmd/telegraf-box
