#!/usr/bin/env bash
# The main job on embedded defaults: set up, then run the local plant (see `factory run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/factory run "$@"
