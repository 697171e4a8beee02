#!/usr/bin/env bash
# A test SSH gateway for the tunnel tests (PyExperimenter's `use_ssh_tunnel`): the
# project's own sshd on 127.0.0.1:2222, key login as root only, TCP forwarding allowed.
# Sourced by scripts/services.sh (which defines log, die, wait_for, pid_alive and
# apt_install); run alone, `bash scripts/sshd.sh` is `services.sh --no-mariadb --no-slurm`.
#
# Everything lives in /var/lib/pyexp-sshd (PYEXP_SSHD_DIR), made by this script:
#   sshd_config, ssh_host_ed25519_key   the daemon's own config and host key
#   client_ed25519                      a client key without passphrase (authorized)
#   client_ed25519_pass                 a client key with the passphrase in client_passphrase
#                                       (authorized), for ssh_private_key_password
#   other_ed25519                       a client key that is NOT authorized (the wrong key)
#   sshd.pid, sshd.log
# Tests find it through PYEXP_TEST_SSHD (default ssh://root@127.0.0.1:2222) and
# PYEXP_SSHD_DIR; tests/support/ssh.py reads both.
# Idempotent: when the daemon answers with the current config it only checks (~0.05 s).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    exec bash "$(dirname "$0")/services.sh" --no-mariadb --no-slurm "$@"
fi

SSHD_DIR="${PYEXP_SSHD_DIR:-/var/lib/pyexp-sshd}"
SSHD_PORT="${PYEXP_SSHD_PORT:-2222}"
SSHD_CONF="$SSHD_DIR/sshd_config"
SSHD_PID="$SSHD_DIR/sshd.pid"

desired_sshd_conf() {
    cat <<EOF
# Written by pyexperimenter's scripts/sshd.sh: a loopback-only gateway for its tests.
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/ssh_host_ed25519_key
PidFile $SSHD_PID
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
StrictModes yes
MaxStartups 64:30:128
MaxSessions 64
LogLevel VERBOSE
EOF
}

# sshd_answers: true when something on the port greets like an SSH server.
sshd_answers() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSHD_PORT && head -c 4 <&3" 2>/dev/null | grep -q '^SSH-'
}

ensure_sshd_keys() {
    install -d -m 700 "$SSHD_DIR"
    [ -f "$SSHD_DIR/ssh_host_ed25519_key" ] \
        || ssh-keygen -q -t ed25519 -N '' -C pyexp-sshd-host -f "$SSHD_DIR/ssh_host_ed25519_key"
    [ -f "$SSHD_DIR/client_ed25519" ] \
        || ssh-keygen -q -t ed25519 -N '' -C pyexp-test-client -f "$SSHD_DIR/client_ed25519"
    if [ ! -f "$SSHD_DIR/client_ed25519_pass" ]; then
        printf 'pyexp-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$SSHD_DIR/client_passphrase"
        ssh-keygen -q -t ed25519 -N "$(head -n1 "$SSHD_DIR/client_passphrase")" -C pyexp-test-client-pass \
            -f "$SSHD_DIR/client_ed25519_pass"
    fi
    [ -f "$SSHD_DIR/other_ed25519" ] \
        || ssh-keygen -q -t ed25519 -N '' -C pyexp-test-unauthorized -f "$SSHD_DIR/other_ed25519"
    cat "$SSHD_DIR/client_ed25519.pub" "$SSHD_DIR/client_ed25519_pass.pub" >"$SSHD_DIR/authorized_keys.new"
    chmod 600 "$SSHD_DIR/authorized_keys.new" "$SSHD_DIR"/client_* "$SSHD_DIR"/other_*
    mv -f "$SSHD_DIR/authorized_keys.new" "$SSHD_DIR/authorized_keys"
}

ensure_sshd() {
    if [ ! -x /usr/sbin/sshd ]; then
        apt_install openssh-server
    fi
    local tmp restart=0
    tmp="$(mktemp)"
    desired_sshd_conf >"$tmp"
    if [ ! -f "$SSHD_CONF" ] || ! cmp -s "$tmp" "$SSHD_CONF" || [ ! -f "$SSHD_DIR/authorized_keys" ]; then
        ensure_sshd_keys
        install -m 600 "$tmp" "$SSHD_CONF"
        restart=1
    fi
    rm -f "$tmp"
    if [ "$restart" -eq 0 ] && pid_alive "$SSHD_PID" sshd && sshd_answers; then
        log "sshd: already answering on 127.0.0.1:$SSHD_PORT"
        return 0
    fi
    if pid_alive "$SSHD_PID" sshd; then
        log "sshd: restarting (config changed)"
        kill "$(cat "$SSHD_PID")" 2>/dev/null || true
        wait_for "the old sshd to exit" bash -c "! kill -0 $(cat "$SSHD_PID") 2>/dev/null" || true
    fi
    sshd_answers && die "port 127.0.0.1:$SSHD_PORT is taken by another SSH server; set PYEXP_SSHD_PORT"
    mkdir -p /run/sshd   # privilege separation directory; /run is empty after a boot
    chmod 755 /run/sshd
    /usr/sbin/sshd -t -f "$SSHD_CONF" || die "sshd rejects $SSHD_CONF"
    log "sshd: starting on 127.0.0.1:$SSHD_PORT ($SSHD_CONF)"
    /usr/sbin/sshd -f "$SSHD_CONF" -E "$SSHD_DIR/sshd.log" </dev/null || die "could not start /usr/sbin/sshd"
    wait_for "sshd to answer on 127.0.0.1:$SSHD_PORT" sshd_answers \
        || { tail -n 20 "$SSHD_DIR/sshd.log" >&2; die "sshd did not come up within ${TIMEOUT}s"; }
}
