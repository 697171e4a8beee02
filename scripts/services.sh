#!/usr/bin/env bash
# Make sure every service the pyexperimenter test suite needs is up:
#   * MariaDB on 127.0.0.1:3306, root with an empty password over TCP, database `test`
#   * a one-node SLURM cluster (munged, slurmctld, slurmd) with an idle node
#   * an SSH gateway on 127.0.0.1:2222 for the tunnel tests (scripts/sshd.sh)
#   * a one-node Son of Grid Engine cell (qmaster and execd here, queue all.q)
#   * PostgreSQL on 127.0.0.1:5432, trust, database `test` (PYEXP_SERVICES_POSTGRES=0: not)
# Idempotent: on a machine where everything already runs it only checks (~0.1 s).
#
# Usage: bash scripts/services.sh [--no-mariadb] [--no-slurm] [--no-sshd] [--no-sge]
#                                 [--max-array-size N] [--restart-slurm] [--quiet-summary]
# Environment:
#   PYEXP_SLURM_MAX_ARRAY_SIZE  MaxArraySize written to slurm.conf (default 10001)
#   PYEXP_SLURM_CPUS            CPUs advertised for the node (default 64)
#   PYEXP_SERVICES_TIMEOUT      seconds to wait for each daemon (default 60)
#   PYEXP_MARIADB_FIX_ROOT=1    allow granting root@127.0.0.1 (empty password) on a
#                               server this script neither installed nor started
#   PYEXP_SSHD_PORT, PYEXP_SSHD_DIR  the test gateway's port (2222) and folder (scripts/sshd.sh)
#   PYEXP_SGE_SLOTS             slots of Grid Engine's queue all.q (default 8)
# Progress and errors go to stderr; the final summary goes to stdout.
set -euo pipefail

SCRIPT_NAME=services.sh
log() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
}

DO_MARIADB=1
DO_SLURM=1
DO_SSHD=1
DO_SGE=1
FORCE_SLURM_RESTART=0
SUMMARY=1
MAX_ARRAY_SIZE="${PYEXP_SLURM_MAX_ARRAY_SIZE:-10001}"
SLURM_CPUS="${PYEXP_SLURM_CPUS:-64}"
TIMEOUT="${PYEXP_SERVICES_TIMEOUT:-60}"

while [ $# -gt 0 ]; do
    case "$1" in
        --no-mariadb) DO_MARIADB=0 ;;
        --no-slurm) DO_SLURM=0 ;;
        --no-sshd) DO_SSHD=0 ;;
        --no-sge) DO_SGE=0 ;;
        --restart-slurm) FORCE_SLURM_RESTART=1 ;;
        --quiet-summary) SUMMARY=0 ;;
        --max-array-size)
            [ $# -ge 2 ] || die "--max-array-size needs a value"
            MAX_ARRAY_SIZE="$2"; shift ;;
        --max-array-size=*) MAX_ARRAY_SIZE="${1#*=}" ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
    shift
done

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
if ! is_uint "$MAX_ARRAY_SIZE" || [ "$MAX_ARRAY_SIZE" -lt 1 ] || [ "$MAX_ARRAY_SIZE" -gt 4000001 ]; then
    die "MaxArraySize must be an integer in 1..4000001, got '$MAX_ARRAY_SIZE'"
fi
if ! is_uint "$SLURM_CPUS" || [ "$SLURM_CPUS" -lt 1 ]; then
    die "PYEXP_SLURM_CPUS must be a positive integer, got '$SLURM_CPUS'"
fi
is_uint "$TIMEOUT" || die "PYEXP_SERVICES_TIMEOUT must be an integer number of seconds"

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root (it installs packages and starts daemons)"
fi

# ---------------------------------------------------------------------------- helpers

# wait_for DESCRIPTION COMMAND...: retry COMMAND every 0.5 s until it succeeds or TIMEOUT.
wait_for() {
    local what="$1"; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "timed out after ${TIMEOUT}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

# pid_alive PIDFILE [COMM]: true if PIDFILE names a live process (whose comm is COMM).
pid_alive() {
    local pidfile="$1" comm="${2:-}" pid
    [ -r "$pidfile" ] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    # A zombie (state Z) waiting to be reaped is not a running daemon.
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    if [ -n "$comm" ]; then
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    fi
}

POLICY_RC=/usr/sbin/policy-rc.d
CREATED_POLICY_RC=0
cleanup() {
    if [ "$CREATED_POLICY_RC" -eq 1 ]; then rm -f "$POLICY_RC"; fi
}
trap cleanup EXIT

# apt_install PKG...: install packages non-interactively; `apt-get update` only when the
# install fails (e.g. empty or stale package lists). Package maintainer scripts are kept
# from starting daemons (no init system here); this script starts them itself.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e "$POLICY_RC" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
        CREATED_POLICY_RC=1
    fi
    local apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    log "installing: $* (apt-get, may take a minute)"
    if ! apt-get install "${apt_opts[@]}" "$@" >/tmp/pyexp-apt-install.log 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >/tmp/pyexp-apt-update.log 2>&1 \
            || { tail -n 20 /tmp/pyexp-apt-update.log >&2; die "apt-get update failed"; }
        apt-get install "${apt_opts[@]}" "$@" >/tmp/pyexp-apt-install.log 2>&1 \
            || { tail -n 30 /tmp/pyexp-apt-install.log >&2; die "apt-get install $* failed (log: /tmp/pyexp-apt-install.log)"; }
    fi
    if [ "$CREATED_POLICY_RC" -eq 1 ]; then rm -f "$POLICY_RC"; CREATED_POLICY_RC=0; fi
}

# ---------------------------------------------------------------------------- MariaDB

MARIADB_TCP=(mariadb --connect-timeout=5 -uroot -h127.0.0.1 -P3306 --protocol=tcp)
MARIADB_SOCK=(mariadb --connect-timeout=5 -uroot --protocol=socket)

mariadb_tcp_ok() { command -v mariadb >/dev/null 2>&1 && "${MARIADB_TCP[@]}" -e 'select 1' >/dev/null 2>&1; }
mariadb_sock_ok() { command -v mariadb >/dev/null 2>&1 && "${MARIADB_SOCK[@]}" -e 'select 1' >/dev/null 2>&1; }

ensure_mariadb() {
    if mariadb_tcp_ok; then
        log "MariaDB: already answering on 127.0.0.1:3306 as root"
    else
        local ours=0
        if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
            apt_install mariadb-server
            ours=1
        fi
        if ! mariadb_sock_ok; then
            log "MariaDB: starting /usr/sbin/mariadbd"
            mkdir -p /run/mysqld
            chown mysql:mysql /run/mysqld
            # --pidfile keeps start-stop-daemon from mistaking a private test server
            # (scripts/private_mariadb.sh, same binary) for the system one.
            start-stop-daemon --start --oknodo --background \
                --pidfile /run/mysqld/mysqld.pid --exec /usr/sbin/mariadbd \
                -- --user=mysql </dev/null >/dev/null 2>&1 \
                || die "could not launch /usr/sbin/mariadbd"
            ours=1
            wait_for "MariaDB to accept connections" mariadb_ping \
                || die "MariaDB did not come up within ${TIMEOUT}s (see /var/log/mysql/error.log)"
        fi
        if ! mariadb_tcp_ok; then
            if [ "$ours" -eq 1 ] || [ "${PYEXP_MARIADB_FIX_ROOT:-0}" = 1 ]; then
                log "MariaDB: allowing root@127.0.0.1 / root@localhost with an empty password over TCP"
                "${MARIADB_SOCK[@]}" -e "
                    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
                    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
                    ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
                    FLUSH PRIVILEGES;" \
                    || die "could not grant root access over TCP (socket login as root failed?)"
            else
                die "a MariaDB server is running but root@127.0.0.1 with an empty password is refused; this script did not install it, so it leaves its users alone (set PYEXP_MARIADB_FIX_ROOT=1 to allow it)"
            fi
            mariadb_tcp_ok || die "root@127.0.0.1 with an empty password still cannot log in over TCP (is the server listening on 127.0.0.1:3306?)"
        fi
    fi
    "${MARIADB_TCP[@]}" -e 'CREATE DATABASE IF NOT EXISTS test' \
        || die "could not create database test"
}

mariadb_ping() { mariadb_sock_ok || mariadb_tcp_ok; }

# ---------------------------------------------------------------------------- SLURM

SLURM_CONF=/etc/slurm/slurm.conf
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid

desired_slurm_conf() {
    local host
    host="$(hostname)"
    cat <<EOF
# Written by pyexperimenter scripts/services.sh -- rewritten whenever it differs.
# One-node test cluster: node "localhost" on host "$host".
ClusterName=local
SlurmctldHost=localhost
ProctrackType=proctrack/linuxproc
ReturnToService=2
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SwitchType=switch/none
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MaxArraySize=$MAX_ARRAY_SIZE
MaxJobCount=100000
SlurmdParameters=config_overrides
MailProg=/bin/true
# A requeued job waits the job credential's lifetime before it may start again (120 s by
# default): 30 s keeps the long-run tests' task requeues from taking minutes each.
AuthInfo=cred_expire=30
NodeName=localhost NodeHostname=$host CPUs=$SLURM_CPUS RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
slurmctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
slurmctld_running() { pid_alive "$SLURMCTLD_PID" slurmctld; }
slurmd_running() { pid_alive "$SLURMD_PID" slurmd; }
node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -n 1; }
node_ready() {
    case "$(node_state)" in
        idle|mixed|allocated|completing|idle~|mixed~|allocated~) return 0 ;;
        *) return 1 ;;
    esac
}
both_stopped() { ! slurmctld_running && ! slurmd_running; }

ensure_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        log "munge: creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    if munge_ok; then
        return 0
    fi
    log "munge: starting munged"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    # Runs as the munge user, like the Debian init script; --force removes a stale socket.
    start-stop-daemon --start --oknodo --chuid munge --exec /usr/sbin/munged \
        -- --force </dev/null >/dev/null 2>&1 || die "could not launch munged"
    wait_for "munged" munge_ok || die "munged did not come up (see /var/log/munge/munged.log)"
}

start_slurm_daemons() {
    mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    chmod 755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    if ! slurmctld_running; then
        log "SLURM: starting slurmctld"
        slurmctld </dev/null >/dev/null 2>&1 || die "slurmctld failed to start (see /var/log/slurm/slurmctld.log)"
    fi
    wait_for "slurmctld to answer 'scontrol ping'" slurmctld_up \
        || { tail -n 20 /var/log/slurm/slurmctld.log >&2 || true; die "slurmctld is not responding"; }
    if ! slurmd_running; then
        log "SLURM: starting slurmd"
        SLURMD_STARTED_AT="$(date +%s)"
        slurmd </dev/null >/dev/null 2>&1 || die "slurmd failed to start (see /var/log/slurm/slurmd.log)"
        # The controller may report the node idle from its saved state before this slurmd
        # has registered; wait for the registration itself.
        wait_for "slurmd to register with slurmctld" slurmd_registered \
            || { tail -n 20 /var/log/slurm/slurmd.log >&2 || true; die "slurmd did not register"; }
    fi
}

SLURMD_STARTED_AT=0
# slurmd_registered: the node's SlurmdStartTime is not older than our slurmd launch.
slurmd_registered() {
    local t
    t="$(scontrol show node localhost 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')"
    [ -n "$t" ] && [ "$t" != None ] || return 1
    t="$(date -d "$t" +%s 2>/dev/null)" || return 1
    [ "$t" -ge $((SLURMD_STARTED_AT - 1)) ]
}

stop_slurm_daemons() {
    if slurmctld_up; then
        log "SLURM: scontrol shutdown (stops slurmctld and slurmd; running job steps survive)"
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    if ! wait_for "slurmctld/slurmd to exit" both_stopped; then
        # Stuck daemons: signal exactly the pids recorded in their own pid files.
        local f
        for f in "$SLURMCTLD_PID" "$SLURMD_PID"; do
            if pid_alive "$f"; then
                log "SLURM: sending SIGTERM to pid $(cat "$f") from $f"
                kill -TERM "$(tr -dc '0-9' <"$f")" 2>/dev/null || true
            fi
        done
        wait_for "slurmctld/slurmd to exit after SIGTERM" both_stopped \
            || die "could not stop the SLURM daemons"
    fi
}

ensure_slurm() {
    local missing=()
    command -v sinfo >/dev/null 2>&1 || missing+=(slurm-client)
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
    command -v munged >/dev/null 2>&1 || missing+=(munge)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install slurmctld slurmd slurm-client munge
    fi

    ensure_munge

    local restart="$FORCE_SLURM_RESTART" tmp
    mkdir -p /etc/slurm
    tmp="$(mktemp)"
    desired_slurm_conf >"$tmp"
    if ! cmp -s "$tmp" "$SLURM_CONF"; then
        log "SLURM: writing $SLURM_CONF (MaxArraySize=$MAX_ARRAY_SIZE, CPUs=$SLURM_CPUS)"
        install -m 644 "$tmp" "$SLURM_CONF"
        restart=1
    fi
    rm -f "$tmp"

    if [ "$restart" -eq 1 ] && { slurmctld_running || slurmd_running; }; then
        stop_slurm_daemons
    fi
    start_slurm_daemons

    # A node left down/drained (e.g. by a previous crash) is brought back.
    local deadline=$((SECONDS + TIMEOUT)) state
    until node_ready; do
        state="$(node_state)"
        case "$state" in
            down*|drain*|fail*)
                log "SLURM: node state '$state'; scontrol update nodename=localhost state=resume"
                scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 /var/log/slurm/slurmd.log >&2 || true
            die "SLURM node did not become idle within ${TIMEOUT}s (state: '${state:-unknown}')"
        fi
        sleep 0.5
    done

    local actual
    actual="$(scontrol show config 2>/dev/null | awk '$1 == "MaxArraySize" {print $3}')"
    [ "$actual" = "$MAX_ARRAY_SIZE" ] \
        || die "slurmctld reports MaxArraySize=$actual, expected $MAX_ARRAY_SIZE"
    log "SLURM: node ready"
}

# ---------------------------------------------------------------------------- sshd

# shellcheck source=scripts/sshd.sh
. "$(dirname "${BASH_SOURCE[0]}")/sshd.sh"

# ---------------------------------------------------------------------------- Son of Grid Engine
# Self-contained: ensure_sge and sge_summary use nothing of this file but log, die, wait_for,
# pid_alive and apt_install. Follows the set-up sequence of the project's services notes:
# debconf preseed, packages, host_aliases, qmaster, then execd, then the qconf settings.
# Every step checks first, so a second run only compares (a few seconds of qconf calls).

SGE_ROOT_DIR=/var/lib/gridengine
SGE_CELL_NAME=default
SGE_COMMON="$SGE_ROOT_DIR/$SGE_CELL_NAME/common"
SGE_QMASTER_PID=/var/spool/gridengine/qmaster/qmaster.pid  # qmaster writes it (the init script's is never written)
SGE_SLOTS="${PYEXP_SGE_SLOTS:-8}"

sge_qmaster_running() { pid_alive "$SGE_QMASTER_PID" sge_qmaster; }
# execd writes no pid file here: look for the process (only to decide whether to start it).
sge_execd_running() { pgrep -x sge_execd >/dev/null 2>&1; }
sge_answers() { qstat >/dev/null 2>&1; }
# The exec host has reported a load: execd is registered with the qmaster.
sge_execd_reports() { qhost -h "$(hostname)" 2>/dev/null | awk 'NR > 3 && $4 != "-" {ok=1} END {exit !ok}'; }

# sge_normal: a qconf object as sorted "key value" lines, whatever qconf's column widths.
sge_normal() { awk '{$1=$1; print}' | sort; }

# sge_apply KIND NAME FILE: add the object from FILE (qconf -A<kind>) or, when it exists and
# differs, modify it (qconf -M<kind>); KIND is q (queue) or p (parallel environment).
sge_apply() {
    local kind="$1" name="$2" file="$3" current
    if current="$(qconf "-s$kind" "$name" 2>/dev/null)"; then
        if ! diff -q <(printf '%s\n' "$current" | sge_normal) <(sge_normal <"$file") >/dev/null; then
            log "Grid Engine: updating $name"
            qconf "-M$kind" "$file" >/dev/null 2>&1 || die "qconf -M$kind $name failed"
        fi
    else
        log "Grid Engine: adding $name"
        qconf "-A$kind" "$file" >/dev/null 2>&1 || die "qconf -A$kind $name failed"
    fi
}

sge_configure() {
    local host tmp
    host="$(hostname)"
    tmp="$(mktemp -d)"
    qconf -ss 2>/dev/null | grep -qx "$host" || qconf -as "$host" >/dev/null 2>&1 || die "qconf -as $host failed"
    # The scheduler runs every second and starts jobs at once; no load adjustment, so a
    # busy 2-core machine still starts its jobs.
    qconf -ssconf >"$tmp/sconf" || die "qconf -ssconf failed"
    sed -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
        -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' \
        -e 's/^job_load_adjustments .*/job_load_adjustments              NONE/' "$tmp/sconf" >"$tmp/sconf.new"
    if ! cmp -s "$tmp/sconf" "$tmp/sconf.new"; then
        log "Grid Engine: scheduler interval 1 s, no load adjustments"
        qconf -Msconf "$tmp/sconf.new" >/dev/null 2>&1 || die "qconf -Msconf failed"
    fi
    cat >"$tmp/smp" <<PE
pe_name            smp
slots              $SGE_SLOTS
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
PE
    sge_apply p smp "$tmp/smp"
    # The queue: this host, SGE_SLOTS slots, no load thresholds, bash, and 5 s between the
    # -notify signal (SIGUSR2) and SIGKILL. Start from the defaults qconf -aq would offer.
    if ! qconf -sq all.q >"$tmp/q" 2>/dev/null; then
        qconf -sq 2>/dev/null >"$tmp/q" || true
    fi
    if [ ! -s "$tmp/q" ]; then
        # No all.q and no template to show: write the one from the notes' defaults.
        printf 'qname all.q\n' >"$tmp/q"
    fi
    awk -v host="$host" -v slots="$SGE_SLOTS" '
        BEGIN { want["qname"]="all.q"; want["hostlist"]=host; want["slots"]=slots;
                want["pe_list"]="smp"; want["load_thresholds"]="NONE";
                want["shell"]="/bin/bash";
                want["notify"]="00:00:05" }
        /^[ \t]/ { if (!skip) print; next }     # continuation lines of a kept value
        { skip = ($1 in want); if (skip) { seen[$1]=1; next } print; skip = 0 }
        END { for (k in want) printf "%-19s %s\n", k, want[k] }
    ' "$tmp/q" | sed -e 's/\\$//' >"$tmp/all.q"
    sge_apply q all.q "$tmp/all.q"
    rm -rf "$tmp"
}

ensure_sge() {
    local host
    host="$(hostname)"
    if ! command -v qconf >/dev/null 2>&1 || [ ! -x /usr/lib/gridengine/sge_qmaster ] \
        || [ ! -x /usr/lib/gridengine/sge_execd ] || [ ! -s "$SGE_COMMON/bootstrap" ]; then
        log "Grid Engine: preseeding debconf (master $host, cell $SGE_CELL_NAME)"
        printf '%s\n' \
            "gridengine-common shared/gridenginemaster string $host" \
            "gridengine-common shared/gridenginecell string $SGE_CELL_NAME" \
            "gridengine-common shared/gridengineconfig boolean true" | debconf-set-selections \
            || die "debconf-set-selections failed"
        apt_install gridengine-master gridengine-exec gridengine-client gridengine-common
        [ -s "$SGE_COMMON/bootstrap" ] || die "the gridengine packages made no cell in $SGE_COMMON"
    fi
    # 127.0.0.1 resolves to "localhost" first; qmaster must take it for this host's name.
    if [ "$(cat "$SGE_COMMON/host_aliases" 2>/dev/null)" != "$host localhost" ]; then
        log "Grid Engine: $SGE_COMMON/host_aliases: $host localhost"
        printf '%s localhost\n' "$host" >"$SGE_COMMON/host_aliases"
        chown sgeadmin:sgeadmin "$SGE_COMMON/host_aliases"
    fi
    if ! sge_qmaster_running; then
        log "Grid Engine: starting qmaster"
        setsid /etc/init.d/gridengine-master start >/dev/null 2>&1 < /dev/null || die "/etc/init.d/gridengine-master start failed"
    fi
    wait_for "Grid Engine's qmaster to answer qstat" sge_answers \
        || { tail -n 20 /var/spool/gridengine/qmaster/messages >&2 || true; die "qmaster does not answer"; }
    if ! sge_execd_running; then
        log "Grid Engine: starting execd"
        # In a session of its own: execd does not leave the caller's session, so it died with
        # the shell that started it (a closed terminal, an ended CI step) and jobs then sat in
        # state "t" with "can't send job" in the qmaster's messages.
        setsid /etc/init.d/gridengine-exec start >/dev/null 2>&1 < /dev/null || die "/etc/init.d/gridengine-exec start failed"
    fi
    sge_configure
    wait_for "Grid Engine's execd on $host to report its load" sge_execd_reports \
        || die "execd on $host does not report to the qmaster (see /var/spool/gridengine/execd/$host/messages)"
    log "Grid Engine: cell ready (queue all.q, $SGE_SLOTS slots)"
}

sge_summary() {
    echo "SGE:     $(qconf -sq all.q | awk '$1 == "slots" || $1 == "notify" {printf "%s %s ", $1, $2}')on $(hostname); max_aj_tasks $(qconf -sconf | awk '$1 == "max_aj_tasks" {print $2}')"
}

# ---------------------------------------------------------------------------- PostgreSQL
# PostgreSQL on 127.0.0.1:5432 with trust auth for the roles postgres and root, database
# `test` (the contract suite's third backend). Checked, started with pg_ctlcluster (or
# `service postgresql start`) if installed but down, installed and set up only where
# missing. PYEXP_SERVICES_POSTGRES=0 skips it. Self-contained: nothing else here uses it.

PG_TCP=(psql -X -h 127.0.0.1 -p 5432 -U postgres -d test -Atq)
postgres_ok() { command -v psql >/dev/null 2>&1 && "${PG_TCP[@]}" -c 'select 1' >/dev/null 2>&1; }

postgres_start_clusters() {
    local version name status
    if command -v pg_lsclusters >/dev/null 2>&1; then
        while read -r version name _ status _; do
            [ -n "$version" ] || continue
            case "$status" in
                online*) ;;
                *) log "PostgreSQL: pg_ctlcluster $version $name start"
                   pg_ctlcluster "$version" "$name" start >/dev/null 2>&1 || true ;;
            esac
        done < <(pg_lsclusters -h 2>/dev/null)
    elif command -v service >/dev/null 2>&1; then
        service postgresql start >/dev/null 2>&1 || true
    fi
}

# A fresh Debian cluster answers TCP logins by password only and has no `test` database:
# trust for loopback TCP (tests only, never on a shared host), the roles and the database.
postgres_set_up_fresh() {
    local hba version name
    read -r version name _ < <(pg_lsclusters -h 2>/dev/null | head -n 1)
    hba="/etc/postgresql/$version/$name/pg_hba.conf"
    [ -f "$hba" ] || return 0
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        log "PostgreSQL: trust for 127.0.0.1 in $hba (a test machine)"
        sed -i '1i host all all 127.0.0.1/32 trust\nlocal all all trust' "$hba"
        pg_ctlcluster "$version" "$name" reload >/dev/null 2>&1 || true
    fi
    runuser -u postgres -- psql -X -Atq -c "select 1 from pg_roles where rolname = 'root'" | grep -q 1 \
        || runuser -u postgres -- psql -X -q -c 'create role root superuser login' >/dev/null
    runuser -u postgres -- psql -X -Atq -c "select 1 from pg_database where datname = 'test'" | grep -q 1 \
        || runuser -u postgres -- psql -X -q -c 'create database test' >/dev/null
}

ensure_postgres() {
    [ "${PYEXP_SERVICES_POSTGRES:-1}" != "0" ] || return 0
    if ! postgres_ok; then
        if ! command -v pg_lsclusters >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
            apt_install postgresql
        fi
        postgres_start_clusters
        wait_for "PostgreSQL to accept connections" pg_isready -h 127.0.0.1 -p 5432 || true
        postgres_ok || postgres_set_up_fresh
        wait_for "PostgreSQL on 127.0.0.1:5432" postgres_ok \
            || die "PostgreSQL does not answer on 127.0.0.1:5432 as postgres (trust) with database test"
    fi
    if [ "$SUMMARY" -eq 1 ]; then
        echo "PostgreSQL: $("${PG_TCP[@]}" -c 'show server_version') on 127.0.0.1:5432 (postgres, trust, database test)"
    fi
}

# ---------------------------------------------------------------------------- main

START=$SECONDS
if [ "$DO_MARIADB" -eq 1 ]; then ensure_mariadb; fi
if [ "$DO_SLURM" -eq 1 ]; then ensure_slurm; fi
if [ "$DO_SSHD" -eq 1 ]; then ensure_sshd; fi
if [ "$DO_SGE" -eq 1 ]; then ensure_sge; fi
ensure_postgres

if [ "$SUMMARY" -eq 1 ]; then
    if [ "$DO_MARIADB" -eq 1 ]; then
        echo "MariaDB: $("${MARIADB_TCP[@]}" -N -e 'select version()') on 127.0.0.1:3306 (root, empty password, database test)"
    fi
    if [ "$DO_SLURM" -eq 1 ]; then
        echo "SLURM:   $(sinfo -h -o '%P %a %D %T %N cpus=%c')"
        echo "SLURM:   MaxArraySize=$(scontrol show config | awk '$1 == "MaxArraySize" {print $3}')"
    fi
    if [ "$DO_SSHD" -eq 1 ]; then
        echo "sshd:    root@127.0.0.1:$SSHD_PORT, keys in $SSHD_DIR"
    fi
    if [ "$DO_SGE" -eq 1 ]; then sge_summary; fi
fi
log "all requested services are up ($((SECONDS - START))s)"
