#!/usr/bin/env bash
# A PRIVATE MariaDB server for fault-injection tests (kill -9 and restart), separate
# from the machine's server on 3306: its own datadir, socket, pid file and port.
#
# Usage: bash scripts/private_mariadb.sh start|stop|kill|pid|status PORT DATADIR
#   start   initialise DATADIR if needed, start the server on 127.0.0.1:PORT and wait
#           until it accepts root (empty password) over TCP; database `test` exists.
#           A no-op if it is already running. Data survives kill + start.
#   stop    clean shutdown; waits until the process has exited. No-op if not running.
#   kill    SIGKILL to this server's pid only (read from its pid file); waits for exit.
#   pid     print the server's pid (exit 1 if it is not running).
#   status  exit 0 if it is running and accepting connections, 1 otherwise.
# Environment:
#   PYEXP_PRIVATE_MARIADB_OPTS  extra mariadbd options, e.g. "--max-connections=20"
#   PYEXP_PRIVATE_MARIADB_TIMEOUT  seconds to wait for start/stop (default 60)
#   PYEXP_PRIVATE_MARIADB_HOST  the loopback address to listen on (default 127.0.0.1). A
#           test gives each server an address of its own (127.X.Y.Z): a port is then
#           never taken by another test run's server while this one is down for a restart.
# Connect with: mariadb -uroot -h HOST -P PORT   (or socket DATADIR/mysqld.sock)
set -euo pipefail

die() { printf '[private_mariadb.sh] ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf '[private_mariadb.sh] %s\n' "$*" >&2; }

[ $# -eq 3 ] || die "usage: $0 start|stop|kill|pid|status PORT DATADIR"
ACTION="$1"
PORT="$2"
DATADIR="$3"
TIMEOUT="${PYEXP_PRIVATE_MARIADB_TIMEOUT:-60}"
HOST="${PYEXP_PRIVATE_MARIADB_HOST:-127.0.0.1}"
[[ "$HOST" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "HOST must be a loopback address 127.X.Y.Z, got '$HOST'"

if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1024 ] || [ "$PORT" -gt 65535 ]; then
    die "PORT must be a number in 1024..65535, got '$PORT'"
fi
[ "$PORT" -ne 3306 ] || die "port 3306 belongs to the machine's own MariaDB; pick another port"
[[ "$DATADIR" = /* ]] || DATADIR="$PWD/$DATADIR"
DATADIR="${DATADIR%/}"
case "$DATADIR" in
    ""|/|/var/lib/mysql|/var/lib/mysql/*|/run/mysqld|/run/mysqld/*)
        die "refusing to use '$DATADIR' as a private datadir" ;;
esac

SOCKET="$DATADIR/mysqld.sock"
PIDFILE="$DATADIR/mariadbd.pid"
ERRLOG="$DATADIR/mariadbd.err"
# Socket paths are limited to 107 bytes.
[ "${#SOCKET}" -le 107 ] || die "datadir path too long for a unix socket: $SOCKET"

CLIENT=(mariadb --no-defaults --connect-timeout=3 -uroot -h"$HOST" -P"$PORT" --protocol=tcp)

# The pid recorded for this datadir, if that process is alive, is a mariadbd and was
# started with this datadir. Never looks processes up by name.
server_pid() {
    local pid
    [ -r "$PIDFILE" ] || return 1
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mariadbd ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$DATADIR" || return 1
    printf '%s\n' "$pid"
}

accepting() { "${CLIENT[@]}" -e 'select 1' >/dev/null 2>&1; }

# wait_gone PID: wait until PID has exited (or is a zombie).
wait_gone() {
    local pid="$1" deadline=$((SECONDS + TIMEOUT))
    while [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

port_in_use() {
    # Is anything listening on HOST:PORT? bash /dev/tcp needs no tools.
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

init_datadir() {
    if [ -d "$DATADIR/mysql" ]; then
        return 0
    fi
    log "initialising $DATADIR (mariadb-install-db)"
    mkdir -p "$DATADIR"
    chown mysql:mysql "$DATADIR"
    chmod 750 "$DATADIR"
    # Twice: once in a CI run on a busy machine it failed at once and never again (its log
    # was gone with the test's folder); the lines naming the error are shown, not only its
    # closing advice.
    local try
    for try in 1 2; do
        if mariadb-install-db --no-defaults --user=mysql --basedir=/usr --datadir="$DATADIR" \
                --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
                >"$DATADIR/install-db.log" 2>&1; then
            return 0
        fi
        { grep -iE 'error|fail|denied|cannot|can.t' "$DATADIR/install-db.log" | head -n 15; } >&2 || true
        # Whatever the failed run wrote (system tables, InnoDB and Aria files), but its log.
        find "${DATADIR:?}" -mindepth 1 -maxdepth 1 ! -name install-db.log -exec rm -rf {} +
        [ "$try" = 1 ] && log "mariadb-install-db failed; trying once more"
    done
    die "mariadb-install-db failed twice (log: $DATADIR/install-db.log)"
}

do_start() {
    local pid
    if pid="$(server_pid)"; then
        if accepting; then
            log "already running (pid $pid) on $HOST:$PORT"
            return 0
        fi
    else
        port_in_use && die "something else is already listening on $HOST:$PORT"
        command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] \
            || die "mariadbd is not installed (run scripts/services.sh first)"
        init_datadir
        chown -R mysql:mysql "$DATADIR"
        # A kill -9 leaves a stale socket and pid file behind; they are not ours to keep.
        rm -f "$SOCKET" "$PIDFILE"
        local opts=()
        if [ -n "${PYEXP_PRIVATE_MARIADB_OPTS:-}" ]; then
            read -r -a opts <<<"$PYEXP_PRIVATE_MARIADB_OPTS"
        fi
        # setsid + closed stdio: the server must not hold the caller's pipes open.
        setsid /usr/sbin/mariadbd --no-defaults --user=mysql --basedir=/usr \
            --datadir="$DATADIR" --port="$PORT" --bind-address="$HOST" \
            --socket="$SOCKET" --pid-file="$PIDFILE" --log-error="$ERRLOG" \
            --skip-name-resolve --skip-log-bin --skip-performance-schema \
            --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
            --key-buffer-size=1M --aria-pagecache-buffer-size=1M \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
            "${opts[@]}" </dev/null >/dev/null 2>&1 &
        pid=$!
        # Record the pid at once so `kill`/`stop` work even before the server writes it.
        echo "$pid" >"$PIDFILE"
        chown mysql:mysql "$PIDFILE"   # mariadbd (as mysql) rewrites it
        disown "$pid" 2>/dev/null || true
    fi
    local deadline=$((SECONDS + TIMEOUT))
    until accepting; do
        if [ ! -r "/proc/$pid/stat" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
            tail -n 20 "$ERRLOG" >&2 2>/dev/null || true
            die "mariadbd exited during startup (log: $ERRLOG)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$ERRLOG" >&2 2>/dev/null || true
            die "mariadbd (pid $pid) did not accept connections on port $PORT within ${TIMEOUT}s"
        fi
        sleep 0.1
    done
    "${CLIENT[@]}" -e 'CREATE DATABASE IF NOT EXISTS test' \
        || die "could not create database test"
    log "running (pid $pid) on $HOST:$PORT, datadir $DATADIR"
}

do_stop() {
    local pid
    if ! pid="$(server_pid)"; then
        log "not running"
        return 0
    fi
    # SIGTERM is mariadbd's clean shutdown (same as `mariadb-admin shutdown`).
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" || die "mariadbd (pid $pid) did not shut down within ${TIMEOUT}s"
    log "stopped (pid $pid)"
}

do_kill() {
    local pid
    if ! pid="$(server_pid)"; then
        log "not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" || die "mariadbd (pid $pid) still alive after SIGKILL"
    log "killed (pid $pid, SIGKILL)"
}

case "$ACTION" in
    start) do_start ;;
    stop) do_stop ;;
    kill) do_kill ;;
    pid) server_pid || { log "not running"; exit 1; } ;;
    status) server_pid >/dev/null && accepting ;;
    *) die "unknown action '$ACTION' (start|stop|kill|pid|status)" ;;
esac
