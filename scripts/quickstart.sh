#!/usr/bin/env bash
# From a fresh clone: install pyexperimenter into .venv and run a real example end to end
# on the embedded default (SQLite, local worker processes).
#   bash scripts/quickstart.sh [DIR]      (default DIR: ./quickstart-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DIR="${1:-quickstart-demo}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v '^WARNING: Location' || true
PYEXP="$PWD/.venv/bin/pyexp"

set -x
"$PYEXP" init "$DIR" --force
cd "$DIR"
"$PYEXP" fill experiment.yml
"$PYEXP" run experiment.yml --jobs 2
"$PYEXP" status experiment.yml
"$PYEXP" results experiment.yml --group-by method --group-by samples --agg mean
