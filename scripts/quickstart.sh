#!/usr/bin/env bash
# scripts/quickstart.sh: the README's first command. Installs what is missing, builds,
# and runs the quickstart (scripts/quickstart-run.sh) in ./quickstart.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$root/build"
bash "$root/scripts/quickstart-run.sh" "$root/build/bin/shrike" "${QUICKSTART_DIR:-$root/quickstart}"
