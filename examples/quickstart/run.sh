#!/usr/bin/env bash
# The quickstart as README.md describes it (a few seconds, SQLite, local workers).
# Uses `pyexp` from PATH (PYEXP overrides it).
set -euo pipefail
cd "$(dirname "$0")"
PYEXP="${PYEXP:-pyexp}"

"$PYEXP" fill experiment.yml
"$PYEXP" run experiment.yml --jobs 2
"$PYEXP" status experiment.yml
"$PYEXP" results experiment.yml --group-by algorithm --group-by length --agg mean
