#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes .venv, installs the project with its test extras, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# pytest exits 5 when it collects no test: that is a failure here too, as is any other non-zero code.
exec .venv/bin/python -m pytest "$@"
