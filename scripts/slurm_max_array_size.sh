#!/usr/bin/env bash
# Set the test cluster's MaxArraySize to N and restart the SLURM daemons so that
# `scontrol show config` reports it; returns once the node is idle again.
# Usage: bash scripts/slurm_max_array_size.sh N     (tests: 101, then back to 10001)
# Restarting keeps queued/running jobs (state is saved in /var/spool/slurmctld), but
# submit nothing while it runs. Plain `bash scripts/services.sh` restores 10001.
set -euo pipefail

die() { printf '[slurm_max_array_size.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 N"
[[ "$1" =~ ^[0-9]+$ ]] || die "N must be a positive integer, got '$1'"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYEXP_SLURM_MAX_ARRAY_SIZE="$1" bash "$here/services.sh" --no-mariadb --no-sge --quiet-summary

actual="$(scontrol show config | awk '$1 == "MaxArraySize" {print $3}')"
[ "$actual" = "$1" ] || die "scontrol show config reports MaxArraySize=$actual, expected $1"
printf '[slurm_max_array_size.sh] MaxArraySize=%s, node %s\n' "$actual" "$(sinfo -h -n localhost -o %T)" >&2
