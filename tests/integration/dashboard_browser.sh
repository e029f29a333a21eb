#!/usr/bin/env bash
# tests/integration/dashboard_browser.sh SHRIKE CACHE_DIR ARTIFACT_DIR: the dashboard in a
# real browser: headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core
# (npm, pinned, installed once into CACHE_DIR in the build tree). Two finished runs and
# one that is training while the test runs (tiny, imgsz 64); dashboard_browser.js checks
# that the project page lists them, that compare overlays two runs and shows the setting
# that differs, that a run page's chart gains points as the trainer writes epochs (Server-
# Sent Events, no reloads), and that the page carries on after the server restarts.
# Screenshots of each page go to ARTIFACT_DIR (the build tree's Testing/dashboard).
# Exits 77 (skipped) without chromium, node/npm, or the npm registry.
set -uo pipefail
shrike=$1
cache=$2
artifacts=$3
here=$(cd "$(dirname "$0")" && pwd)
playwright_version=1.65.1  # pinned: the same driver in CI and here

if [ ! -x /usr/bin/chromium ]; then
  echo "SKIP: /usr/bin/chromium is missing (scripts/install-deps.sh installs Debian's chromium)"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed for playwright-core (scripts/install-deps.sh installs nodejs and npm)"
  exit 77
fi
mkdir -p "$cache" "$artifacts"
installed() {
  node -e "process.exit(require('$cache/node_modules/playwright-core/package.json').version === '$playwright_version' ? 0 : 1)" \
    2>/dev/null
}
if ! (
  flock 9
  installed || npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
                 "playwright-core@$playwright_version" >/dev/null
) 9>"$cache/.install-lock"; then
  echo "SKIP: npm install playwright-core@$playwright_version into $cache failed (no access to the npm registry?)"
  exit 77
fi

source "$here/train_fixture.sh"
cd "$work"
export SHRIKE_HOME=$work/home SHRIKE_LEDGER=$work/site/ledger.db TZ=UTC
make_training_data "$shrike" 16 8 4
common=(model=yolov8n.yaml data=shards imgsz=64 batch=8 workers=1 optimizer=SGD close_mosaic=1 "project=$work/runs/demo")
"$shrike" train "${common[@]}" epochs=2 name=a >a.log 2>&1 || fail "training run a failed: $(tail -3 a.log)"
"$shrike" train "${common[@]}" epochs=2 lr0=0.02 name=b >b.log 2>&1 || fail "training run b failed: $(tail -3 b.log)"
# System records as a GPU run writes them (this CPU run has none), for the GPU charts.
now=$(date +%s)
for i in 0 1 2; do
  echo "{\"type\":\"system\",\"wall_time\":$((now + 60 * i)),\"gpu_util\":$((80 + i)),\"gpu_mem_gb\":10.$i}" \
    >>runs/demo/b/metrics.jsonl
done
# The live run trains until the test is over (it is killed then). Once it has trained
# for over a second it is settled, so the credits page has a charge to show.
"$shrike" train "${common[@]}" epochs=100000 name=live >live.log 2>&1 &
trainer=$!
trap 'kill "$trainer" 2>/dev/null; wait "$trainer" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  /usr/bin/python3 -c '
import json, sys
s = json.load(open("runs/demo/live/usage.json"))["segments"][-1]
sys.exit(0 if s["end"] > s["start"] else 1)' 2>/dev/null && break
  sleep 0.2
done
"$shrike" accounting settle runs/demo/live >settle.log 2>&1 || fail "settle: $(cat settle.log)"

NODE_PATH=$cache/node_modules node "$here/dashboard_browser.js" "$shrike" "$work" "$artifacts" ||
  fail "browser checks failed (screenshots in $artifacts)"
finish "dashboard in the browser (screenshots in $artifacts)"
