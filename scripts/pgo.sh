#!/usr/bin/env bash
# Refreshes cmd/telegraf-box/default.pgo, the CPU profile from which Go's compiler optimises the
# execd binary (profile-guided optimisation: `go build` uses a main package's default.pgo by
# itself; -pgo=off builds without it). It profiles telegraf-box for a few seconds while it reads
# a backlog of the all stream, then one of admin_logs_streaming, from the simulated Box
# (tools/bench, telegraf-box alone), and merges the two profiles. Refresh it when the hot path
# changed much; see docs/benchmarks/README.md.
#
#   bash scripts/pgo.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=$root/.cache/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
port=${PGO_PPROF_PORT:-6061}

bash scripts/build-telegraf-box.sh "$bin/telegraf-box"
go build -buildvcs=false -o "$tmp/bench" ./tools/bench
cat >"$tmp/profiled" <<EOF
#!/bin/sh
exec "$bin/telegraf-box" -pprof_addr localhost:$port "\$@"
EOF
chmod +x "$tmp/profiled"

for stream in all admin_logs_streaming; do
  echo "pgo.sh: profiling telegraf-box on a $stream backlog" >&2
  "$tmp/bench" -telegraf-box "$tmp/profiled" -peers telegraf-box -rounds 1 -no-latency \
    -stream "$stream" -events 2000000 -backlog synthetic >"$tmp/$stream.report" &
  run=$!
  for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  go tool pprof -proto -seconds 5 "http://localhost:$port/debug/pprof/profile" >"$tmp/$stream.pb" 2>"$tmp/$stream.log"
  wait "$run"
done
go tool pprof -proto "$tmp/all.pb" "$tmp/admin_logs_streaming.pb" >"$tmp/merged.pgo" 2>/dev/null
mv "$tmp/merged.pgo" cmd/telegraf-box/default.pgo
echo "pgo.sh: wrote cmd/telegraf-box/default.pgo ($(wc -c <cmd/telegraf-box/default.pgo) bytes)" >&2
