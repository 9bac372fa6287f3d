#!/usr/bin/env bash
# Redraws the README's pictures of the dashboard's collector-health row
# (docs/img/health_*.png) from a fresh run of plugin_test's
# TestIntegrationCollectorHealth: simulated Box -> telegraf-box under a real Telegraf's
# inputs.execd -> InfluxDB, healthy and in each fault. The test records what the
# health panels' queries return (BOX_FIGURES_OUT); tools/pictures draws it.
#
# Usage: bash scripts/pictures.sh   (about two minutes; installs what scripts/test.sh installs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
figures=$root/.cache/health-figures.json
mkdir -p "$root/.cache"
rm -f "$figures"

SKIP_FMT=1 SKIP_MOD=1 SKIP_VET=1 SKIP_LINT=1 SKIP_DOCS=1 SKIP_BENCH=1 SKIP_FUZZ=1 \
  TEST_PKGS=./plugin_test/ TEST_FLAGS="-v -run ^TestIntegrationCollectorHealth\$" \
  BOX_FIGURES_OUT="$figures" bash "$root/scripts/test.sh"

[[ -s $figures ]] || { echo "pictures.sh: the test wrote no figures to $figures" >&2; exit 1; }
mkdir -p "$root/docs/img"
go -C "$root/tools/pictures" run . -in "$figures" -out "$root/docs/img"
ls -l "$root"/docs/img/health_*.png
