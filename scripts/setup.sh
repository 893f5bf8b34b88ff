#!/usr/bin/env bash
# Create .venv and install the project. Idempotent.
#   bash scripts/setup.sh           what the plant needs to run (the main command)
#   bash scripts/setup.sh --tests   plus the test and benchmark extras and Debian's prometheus
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
command -v java >/dev/null || { echo "a JDK 17+ (java) is required" >&2; exit 1; }
command -v mvn >/dev/null || [ -n "${KAFKA_HOME:-}" ] || { echo "Maven (mvn) is required to fetch Kafka" >&2; exit 1; }
extras=""
if [ "${1:-}" = "--tests" ]; then
  extras="[test,bench]"
  # Debian's Prometheus server, for the scrape test (tests/integration/test_observability.py),
  # and Debian's chromium, for the plant view's browser test (Playwright drives it; Playwright's
  # own browser download is never used).
  missing=""
  command -v prometheus >/dev/null || missing="$missing prometheus"
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
    else
      echo "the tests need Debian's packages:$missing (sudo apt-get install$missing)" >&2; exit 1
    fi
  fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".$extras"
