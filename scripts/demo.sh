#!/usr/bin/env bash
# The main job, offline: makes .venv, installs the project, runs `aggregator demo` (snapshot sites on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/aggregator demo "$@"
