#!/usr/bin/env bash
# The whole example, as README.md describes it: fill, run on 2 cores, status, aggregate
# over seeds, plot. Uses `pyexp` and `python` from PATH (PYEXP / PYTHON override them).
set -euo pipefail
cd "$(dirname "$0")"
PYEXP="${PYEXP:-pyexp}"
PYTHON="${PYTHON:-python}"

"$PYEXP" fill experiment.yml
"$PYEXP" run experiment.yml --jobs 2
"$PYEXP" status experiment.yml
"$PYEXP" results experiment.yml --group-by dataset --group-by model --agg mean --agg std --columns accuracy,f1_macro
"$PYTHON" plot.py
