#!/usr/bin/env bash
# The project's test command: installs everything it needs, then runs the whole suite
# (unit tests and integration tests against a real Kafka broker fetched from Maven Central).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# The layer rules (pyproject.toml, [tool.importlinter]): a wrong import fails here, before any test.
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -q -p no:cacheprovider -rs --durations=25 "$@"
