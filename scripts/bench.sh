#!/usr/bin/env bash
# The performance benchmark of issue 8: telegraf-box against Box's official Node SDK
# (and box_events compiled into Telegraf) on the same simulated Box, in the same run.
#
#   bash scripts/bench.sh               full run: 1,000,000 events, 2% repeats, 3 rounds,
#                                       then the latency scenarios (about 5 minutes more)
#   bash scripts/bench.sh -smoke        quick check that it all works (under a minute)
#   bash scripts/bench.sh -events 200000 -no-latency -json -out report.json
#   bash scripts/bench.sh -help         every flag of tools/bench
#
# It builds cmd/telegraf-box and plugin_test/telegrafrun into .cache/bin (always, as
# scripts/build-telegraf-box.sh does: Go's build cache makes an unchanged rebuild
# quick), installs box-node-sdk into scripts/bench/node/node_modules with `npm ci`
# from the committed package-lock.json (only when the lock changed since the last
# install), then runs `go run ./tools/bench "$@"`. Without node or npm, or when the
# install fails (no registry), the Node SDK peer is left out, with a notice in the
# report. The report goes to stdout, progress to stderr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=$root/.cache/bin
mkdir -p "$bin" "$root/.cache/tmp"

note() { printf 'bench.sh: %s\n' "$*" >&2; }

bash scripts/build-telegraf-box.sh "$bin/telegraf-box"
# No -trimpath: the same flags as go vet and scripts/test.sh, so packages come from the cache.
go build -C "$root" -buildvcs=false -o "$bin/telegrafrun" ./plugin_test/telegrafrun

# ---------------------------------------------------------------------------------------------
# The Node SDK peer: box-node-sdk pinned by package.json and package-lock.json.
node_dir=$root/scripts/bench/node
skip_node=""
if ! command -v node >/dev/null 2>&1; then
  skip_node="node is not installed (Node.js 18 or later is needed)"
elif ! command -v npm >/dev/null 2>&1; then
  skip_node="npm is not installed"
elif ! node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || ((node_major < 18)); then
  skip_node="node $(node --version 2>/dev/null || echo '?') is too old (18 or later is needed)"
else
  # npm ci deletes and reinstalls node_modules; skip it when what it would install is
  # what the last successful run installed.
  stamp=$node_dir/node_modules/.bench-installed
  want=$(cat "$node_dir/package.json" "$node_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" && -f $node_dir/node_modules/box-node-sdk/package.json ]]; then
    note "box-node-sdk already installed in scripts/bench/node/node_modules"
  else
    log=$root/.cache/tmp/bench-npm.log
    note "installing box-node-sdk (npm ci in scripts/bench/node)"
    # --ignore-scripts: nothing of the dependency tree runs at install time.
    if timeout 300 npm ci --prefix "$node_dir" --ignore-scripts --no-audit --no-fund \
      --fetch-retries=1 --fetch-timeout=30000 >"$log" 2>&1; then
      printf '%s\n' "$want" >"$stamp"
    else
      tail -n 5 "$log" >&2 || true
      skip_node="npm ci in scripts/bench/node failed (no access to the npm registry?); see .cache/tmp/bench-npm.log"
    fi
  fi
fi
if [[ -n $skip_node ]]; then
  note "NOTICE: the Box Node SDK peer is skipped: $skip_node"
fi

exec go run ./tools/bench ${skip_node:+-skip-node "$skip_node"} "$@"
