#!/usr/bin/env bash
# Make the ordinary (non-root) user that cluster tests submit as, with its own venv that
# imports pyexperimenter from this checkout (editable), so its workers run the code under test.
#   bash scripts/ordinary_user.sh [CHECKOUT]        (as root; CHECKOUT defaults to this repository)
# Why: researchers are never root on a cluster; Grid Engine refuses root's jobs and
# PostgreSQL refuses to run as root, so those tests need a real user. The venv uses the
# system interpreter (/usr/bin/python3), which every user can execute, unlike a pyenv under
# /root. Idempotent: installs dependencies only when they changed.
# Environment: PYEXP_TEST_USER (default pyexpuser), PYEXP_TEST_USER_EXTRAS (default
# test,postgres,server: the extras the user's tests import).
set -euo pipefail

log() { printf '[ordinary_user.sh] %s\n' "$*" >&2; }
die() { printf '[ordinary_user.sh] ERROR: %s\n' "$*" >&2; exit 1; }

CHECKOUT="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
NAME="${PYEXP_TEST_USER:-pyexpuser}"
EXTRAS="${PYEXP_TEST_USER_EXTRAS:-test,postgres,server}"
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates a user)"
[[ "$NAME" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "PYEXP_TEST_USER must be a plain user name, got '$NAME'"

if ! id -u "$NAME" >/dev/null 2>&1; then
    log "creating user $NAME"
    useradd --create-home --shell /bin/bash "$NAME"
fi
HOME_DIR="$(getent passwd "$NAME" | cut -d: -f6)"
# One venv per checkout path, so that two checkouts (CI's clone, a work tree) never re-point
# each other's; tests/support/ordinary_user.py derives the same name.
VENV="$HOME_DIR/venv-$(printf '%s' "$CHECKOUT" | sha256sum | cut -c1-12)"

# The user must be able to read the checkout: every folder above it needs o+x.
if ! runuser -u "$NAME" -- test -r "$CHECKOUT/pyproject.toml"; then
    die "user $NAME cannot read $CHECKOUT (a parent folder without o+x?); clone somewhere readable"
fi

SYSTEM_PYTHON=/usr/bin/python3
if ! "$SYSTEM_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# Dependencies are installed once per dependency set; a new clone at the same path (each CI
# run) only re-points the editable install, which takes seconds.
DEPS_STAMP="$VENV/.pyexp-deps"
DEPS="$EXTRAS $(cat "$CHECKOUT/pyproject.toml" "$CHECKOUT/setup.py" | sha256sum | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$DEPS_STAMP" 2>/dev/null)" = "$DEPS" ]; then
    log "re-pointing $VENV at $CHECKOUT"
    NO_DEPS=--no-deps
else
    log "installing pyexperimenter[$EXTRAS] from $CHECKOUT into $VENV"
    [ -x "$VENV/bin/python" ] || "$SYSTEM_PYTHON" -m venv "$VENV"
    NO_DEPS=
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $NO_DEPS -e "$CHECKOUT[$EXTRAS]" 2>&1 \
    | grep -v '^WARNING: Location\|does not provide the extra' || true
printf '%s' "$DEPS" > "$DEPS_STAMP"
chown -R "$NAME:" "$VENV"

WHERE="$(cd / && runuser -u "$NAME" -- env -i HOME="$HOME_DIR" "$VENV/bin/python" -c \
    'import pathlib, pyexperimenter; print(pathlib.Path(pyexperimenter.__file__).resolve().parent.parent)')" \
    || die "user $NAME's venv cannot import pyexperimenter"
[ "$WHERE" = "$CHECKOUT" ] || die "user $NAME's venv imports pyexperimenter from $WHERE, not $CHECKOUT"
echo "ordinary user: $NAME (uid $(id -u "$NAME")), venv $VENV, checkout $CHECKOUT"
