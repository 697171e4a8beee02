#!/usr/bin/env bash
# PyExperimenter 1.4.2's own test suite, run against us (import prefix py_experimenter ->
# pyexperimenter, nothing else changed) and against 1.4.2 itself, side by side.
# Not in CI: it needs PyExperimenter's sources (its sdist ships no tests).
#
#   scripts/pyexperimenter_suite.sh [PYEXPERIMENTER_SOURCES] [-- PYTEST ARGS]
#
# PYEXPERIMENTER_SOURCES (or PE_SRC) is any of: a checkout of PyExperimenter (a folder with
# test/ and py_experimenter/, a git work tree or not), or a git dir (bare or .git) that has
# the tag v1.4.2. Given nothing, it clones https://github.com/tornede/py_experimenter at
# v1.4.2 into a temporary folder (PE_REPO overrides the URL).
# PE_VENV (default .venv-pe142) gets py-experimenter==1.4.2 from the package index once.
# MariaDB: 127.0.0.1:3306, user root, empty password (scripts/services.sh), database py_experimenter.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PE_SRC="${PE_SRC:-}"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then PE_SRC="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
PE_TAG="${PE_TAG:-v1.4.2}"
PE_REPO="${PE_REPO:-https://github.com/tornede/py_experimenter}"
PE_VENV="${PE_VENV:-$ROOT/.venv-pe142}"
OURS_PY="${OURS_PY:-$ROOT/.venv/bin/python}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The tests of 1.4.2, unpacked once into $WORK/src/test, whatever form the sources come in.
mkdir -p "$WORK/src"
if [ -z "$PE_SRC" ]; then
    git -c advice.detachedHead=false clone -q --depth 1 --branch "$PE_TAG" "$PE_REPO" "$WORK/clone"
    PE_SRC="$WORK/clone"
fi
if [ -d "$PE_SRC/test" ] && [ -d "$PE_SRC/py_experimenter" ]; then
    cp -r "$PE_SRC/test" "$WORK/src/test"
elif git --git-dir="$PE_SRC" rev-parse -q --verify "$PE_TAG^{commit}" >/dev/null 2>&1; then
    git --git-dir="$PE_SRC" archive "$PE_TAG" test | tar -x -C "$WORK/src"
else
    echo "$PE_SRC: neither a PyExperimenter checkout nor a git dir with tag $PE_TAG" >&2
    exit 2
fi

# The notebook test (tests/integration/compat_support.py) makes the same venv without pytest.
if [ ! -x "$PE_VENV/bin/python" ]; then
    python3 -m venv "$PE_VENV"
fi
if ! "$PE_VENV/bin/python" -c 'import py_experimenter, pytest, mock, freezegun' 2>/dev/null; then
    "$PE_VENV/bin/pip" install -q "py-experimenter==1.4.2" pytest mock freezegun
fi
"$OURS_PY" -m pip install -q mock freezegun omegaconf 2>/dev/null || true

mariadb -uroot -h127.0.0.1 -e 'CREATE DATABASE IF NOT EXISTS py_experimenter' 2>/dev/null || true

prepare() {  # $1: folder, $2: rewrite imports (1) or not (0)
    mkdir -p "$1"
    cp -r "$WORK/src/test" "$1/test"
    if [ "$2" = 1 ]; then
        grep -rlZ 'py_experimenter' "$1/test" --include='*.py' | xargs -0 -r sed -i \
            -e 's/\bfrom py_experimenter\b/from pyexperimenter/g' \
            -e 's/\bimport py_experimenter\b/import pyexperimenter/g' \
            -e 's/"py_experimenter\./"pyexperimenter./g'
    fi
    # The tests read config/database_credentials.yml relative to the working directory.
    mkdir -p "$1/config"
    cat > "$1/config/database_credentials.yml" <<'EOF'
CREDENTIALS:
  Database:
    user: root
    password: ""
  Connection:
    Standard:
      server: 127.0.0.1
EOF
    for f in "$1"/test/*/*.yml "$1"/test/*/*/*.yml; do
        [ -f "$f" ] && cp -n "$1/config/database_credentials.yml" "$(dirname "$f")/database_credentials.yml"
    done
}

run() {  # $1: folder, $2: python, $3: report
    (cd "$1" && timeout 1500 "$2" -m pytest test -q -p no:cacheprovider -rA --continue-on-collection-errors "${@:4}" >"$3.log" 2>&1 || true)
    grep -E '^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) test/' "$3.log" | sed -E 's/^(\w+) ([^ ]+).*/\2 \1/' | sort >"$3"
}

prepare "$WORK/ours" 1
prepare "$WORK/theirs" 0
run "$WORK/theirs" "$PE_VENV/bin/python" "$WORK/theirs.txt" "$@"
run "$WORK/ours" "$OURS_PY" "$WORK/ours.txt" "$@"

printf '%-100s %-8s %-8s\n' TEST 1.4.2 ours
join -a1 -a2 -e '-' -o 0,1.2,2.2 "$WORK/theirs.txt" "$WORK/ours.txt" | while read -r t a b; do
    printf '%-100s %-8s %-8s\n' "$t" "$a" "$b"
done
echo
echo "1.4.2: $(cut -d' ' -f2 "$WORK/theirs.txt" | sort | uniq -c | tr '\n' ' ')"
echo "ours:  $(cut -d' ' -f2 "$WORK/ours.txt" | sort | uniq -c | tr '\n' ' ')"
if [ -n "${KEEP_LOGS:-}" ]; then cp "$WORK"/*.log "$KEEP_LOGS"/; fi
