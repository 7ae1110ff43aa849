#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes .venv, installs the project with its test extras, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# System packages the tests use for real: Chromium (the reader page is checked in a real browser).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Real PostgreSQL and Redis servers on loopback for the tests (installed with apt-get when missing),
# stopped again however the tests end; servers left by a manual start or a killed run are stopped first.
bash scripts/services.sh stop >/dev/null 2>&1 || true
bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
. .services/env

# The house rules first (seconds, and a broken rule fails the run): which stage may import which
# (import-linter contracts in pyproject.toml), lint (ruff) and types (mypy) of the shipped code.
.venv/bin/lint-imports
.venv/bin/ruff check aggregator spiders pipelines
.venv/bin/mypy

# pytest exits 5 when it collects no test: that is a failure here too, as is any other non-zero code.
# Four processes (pytest-xdist): most of a crawl test is waiting on its subprocess and loopback servers.
.venv/bin/python -m pytest -n 4 "$@"
