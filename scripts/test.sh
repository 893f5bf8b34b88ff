#!/usr/bin/env bash
# The project's test command: installs everything it needs, then runs the whole suite
# (unit tests and integration tests against a real Kafka broker fetched from Maven Central).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# The layer rules (pyproject.toml, [tool.importlinter]): a wrong import fails here, before any test.
.venv/bin/lint-imports --no-cache
# Two test processes (pytest-xdist), each whole file on one of them (module fixtures: a plant, a
# cluster). Most of a test's time is spent waiting on brokers and processes, so two run side by
# side on a 2-core machine in little more than half the time. FACTORY_TEST_WORKERS=0: one process.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -rs --durations=25 \
  -n "${FACTORY_TEST_WORKERS:-2}" --dist loadfile "$@"
