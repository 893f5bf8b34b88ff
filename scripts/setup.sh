#!/usr/bin/env bash
# Create .venv and install the project with its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
command -v java >/dev/null || { echo "a JDK 17+ (java) is required" >&2; exit 1; }
command -v mvn >/dev/null || [ -n "${KAFKA_HOME:-}" ] || { echo "Maven (mvn) is required to fetch Kafka" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
