#!/usr/bin/env bash
# The whole test suite from a fresh clone: install, start services, lint, type-check, test.
#   bash scripts/test.sh [pytest args...]
# Creates .venv (if missing) with the package and its test dependencies, makes sure MariaDB,
# the one-node SLURM cluster, the Grid Engine cell and the test SSH gateway are up (scripts/services.sh), the ordinary
# user cluster tests run as exists (scripts/ordinary_user.sh) and Chromium is installed (for
# the browser tests), then runs ruff, mypy, the docs build and pytest. Under CI=true a
# missing service fails the run instead of skipping.
# pytest runs on PYEXP_TEST_WORKERS pytest-xdist workers (default 4, more than the cores: most
# of the suite's time is spent waiting on clusters, servers and subprocesses); tests that
# cannot share the machine are grouped by tests/support/parallel.py. `-n 0` among the
# arguments runs them all in one process (quicker for a single test).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,docs,examples,codecarbon,sshtunnel,parquet,report,postgres,server]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import pyexperimenter, pytest, pymysql, submitit' || { echo "install failed" >&2; exit 1; }

if [ "${PYEXP_SKIP_SERVICES:-0}" != "1" ]; then
    bash scripts/services.sh
    # The non-root user cluster tests run as (tests/support/ordinary_user.py).
    bash scripts/ordinary_user.sh
fi
# tests/acceptance/test_report_browser.py opens the HTML report in Debian's headless Chromium.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# PyExperimenter 1.4.2 in a side venv (tests/integration/compat_support.py), made here rather
# than by the first test that needs it: its install takes minutes on a busy machine, longer
# than a test's timeout, and the workers that also need it would wait on it meanwhile.
echo "== PyExperimenter 1.4.2 (compatibility tests)"
.venv/bin/python tests/integration/compat_support.py 2>&1 >/dev/null | { grep -v '^WARNING: Location' || true; } >&2

echo "== ruff"; .venv/bin/ruff check pyexperimenter tests benchmarks examples
echo "== mypy"; .venv/bin/mypy
if [ -f mkdocs.yml ]; then
    echo "== docs"; .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
fi
echo "== pytest"
exec .venv/bin/python -m pytest -n "${PYEXP_TEST_WORKERS:-4}" --dist loadgroup "$@"
