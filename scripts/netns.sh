#!/usr/bin/env bash
# A multi-host test bed of network namespaces, so that tests see real packets on a real
# link they can cut: a database "host" and N worker "hosts", each with its own host name.
#
#   pyexp-db   holds the bridge pxbr0 (10.231.0.1/24); a private MariaDB runs in here
#   pyexp-hI   worker host I: eth0 = 10.231.0.(10+I)/24, a veth whose other end pxhI is a
#              port of pxbr0 in pyexp-db
#
# Every address lives inside a namespace this script made; the root namespace gets no
# address, no route and no interface (the veth pairs are created straight into their
# namespaces). Needs root, `ip` and `tc` (the `blackhole` qdisc: it drops every packet
# silently, so both ends keep their sockets open, as on a dead link).
#
# Usage: bash scripts/netns.sh up [N]           create pyexp-db and N hosts (default 3); idempotent
#        bash scripts/netns.sh down             remove every namespace made here (and what runs in them)
#        bash scripts/netns.sh exec HOST CMD... run CMD on HOST (h1, h2, ..., or db) under its own
#                                               host name (pyexp-h1, ...: a UTS namespace of its own)
#        bash scripts/netns.sh cut HOST         blackhole HOST's link, both directions
#        bash scripts/netns.sh heal HOST        undo `cut`
#        bash scripts/netns.sh renumber HOST    give HOST a new address: its old connections can
#                                               never come back, new ones work
#        bash scripts/netns.sh status           print the namespaces and links
set -euo pipefail

PREFIX=pyexp
DB_NS="$PREFIX-db"
BRIDGE=pxbr0
NET=10.231.0
DB_ADDR="$NET.1"

die() { printf '[netns.sh] ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf '[netns.sh] %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (ip netns)"
command -v ip >/dev/null || die "ip (iproute2) is not installed"

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"; }
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

host_index() {  # h3 -> 3
    [[ "$1" =~ ^h([0-9]{1,2})$ ]] || die "expected a host h1..h99, got '$1'"
    printf '%s\n' "${BASH_REMATCH[1]}"
}

make_host() {
    local i="$1" ns="$PREFIX-h$1"
    ns_exists "$ns" || ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    if ! in_ns "$DB_NS" ip link show "pxh$i" >/dev/null 2>&1; then
        ip link add "pxh$i" netns "$DB_NS" type veth peer name eth0 netns "$ns"
    fi
    in_ns "$DB_NS" ip link set "pxh$i" master "$BRIDGE" up
    in_ns "$ns" ip addr replace "$NET.$((10 + i))/24" dev eth0
    in_ns "$ns" ip link set eth0 up
}

do_up() {
    local n="${1:-3}" i
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 40 ] || die "N must be 1..40, got '$n'"
    ns_exists "$DB_NS" || ip netns add "$DB_NS"
    in_ns "$DB_NS" ip link set lo up
    in_ns "$DB_NS" ip link show "$BRIDGE" >/dev/null 2>&1 || in_ns "$DB_NS" ip link add "$BRIDGE" type bridge
    in_ns "$DB_NS" ip addr replace "$DB_ADDR/24" dev "$BRIDGE"
    in_ns "$DB_NS" ip link set "$BRIDGE" up
    for ((i = 1; i <= n; i++)); do make_host "$i"; done
    log "up: $DB_NS ($DB_ADDR) and $n host(s) h1..h$n"
}

kill_ns_processes() {  # only processes inside our namespaces, by pid
    local ns="$1" pid
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
}

do_down() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-(db|h[0-9]+)$" || true); do
        kill_ns_processes "$ns"
        ip netns del "$ns"
    done
    log "down"
}

host_ns() { if [ "$1" = db ]; then echo "$DB_NS"; else echo "$PREFIX-h$(host_index "$1")"; fi; }

do_exec() {
    local host="$1" ns; shift
    [ $# -ge 1 ] || die "usage: exec HOST CMD..."
    ns="$(host_ns "$host")"
    ns_exists "$ns" || die "no namespace $ns (run: scripts/netns.sh up)"
    command -v unshare >/dev/null || die "unshare (util-linux) is not installed"
    exec ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

do_cut() {
    local i; i="$(host_index "$1")"
    in_ns "$PREFIX-h$i" tc qdisc replace dev eth0 root blackhole
    in_ns "$DB_NS" tc qdisc replace dev "pxh$i" root blackhole
    log "cut h$i"
}

do_heal() {
    local i; i="$(host_index "$1")"
    in_ns "$PREFIX-h$i" tc qdisc del dev eth0 root 2>/dev/null || true
    in_ns "$DB_NS" tc qdisc del dev "pxh$i" root 2>/dev/null || true
    log "healed h$i"
}

do_renumber() {
    local i; i="$(host_index "$1")"
    in_ns "$PREFIX-h$i" ip addr flush dev eth0
    in_ns "$PREFIX-h$i" ip addr add "$NET.$((110 + i))/24" dev eth0
    log "renumbered h$i to $NET.$((110 + i))"
}

ACTION="${1:-}"
[ $# -ge 1 ] && shift
case "$ACTION" in
    up) do_up "$@" ;;
    down) do_down ;;
    exec) [ $# -ge 1 ] || die "usage: exec HOST CMD..."; do_exec "$@" ;;
    cut) [ $# -eq 1 ] || die "usage: cut HOST"; do_cut "$1" ;;
    heal) [ $# -eq 1 ] || die "usage: heal HOST"; do_heal "$1" ;;
    renumber) [ $# -eq 1 ] || die "usage: renumber HOST"; do_renumber "$1" ;;
    status) ip netns list; for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-"); do
                echo "== $ns"; in_ns "$ns" ip -brief addr; in_ns "$ns" tc qdisc show | grep -v noqueue || true; done ;;
    *) die "usage: $0 up [N]|down|exec HOST CMD...|cut HOST|heal HOST|renumber HOST|status" ;;
esac
