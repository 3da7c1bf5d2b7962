#!/usr/bin/env bash
# Runs admire-jax on every worker of a Cloud TPU VM pod slice.
#
#   launch/tpu_pod.sh setup                 copy this checkout to all workers and install it
#   launch/tpu_pod.sh run -- COMMAND...     run COMMAND on all workers at once, e.g.
#   launch/tpu_pod.sh run -- admire-jax train --gin_file=configs/models/1b.gin
#
# Needs: TPU_NAME and ZONE (and PROJECT, unless gcloud has a default). On a TPU pod every worker
# runs the same command; jax.distributed finds the coordinator, process count and process id
# by itself, so no extra flags are needed.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME to the TPU VM name}"
: "${ZONE:?set ZONE to the TPU zone, e.g. us-east5-a}"
REMOTE_DIR="${REMOTE_DIR:-admire-jax}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

gcloud_tpu() {
  local verb="$1"
  shift
  gcloud compute tpus tpu-vm "$verb" ${PROJECT:+--project="$PROJECT"} --zone="$ZONE" "$@"
}

on_all_workers() {
  gcloud_tpu ssh "$TPU_NAME" --worker=all --command="$1"
}

case "${1:-}" in
  setup)
    tarball="$(mktemp --suffix=.tar.gz)"
    trap 'rm -f "$tarball"' EXIT
    git -C "$here" archive --format=tar.gz -o "$tarball" HEAD
    gcloud_tpu scp "$tarball" "$TPU_NAME:admire-jax.tar.gz" --worker=all
    on_all_workers "mkdir -p $REMOTE_DIR && tar -xzf admire-jax.tar.gz -C $REMOTE_DIR && cd $REMOTE_DIR \
      && python3 -m venv .venv && . .venv/bin/activate \
      && pip install -q -e '.[tpu]' -c constraints.txt"
    ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ "$#" -gt 0 ] || { echo "usage: $0 run -- COMMAND..." >&2; exit 2; }
    command="$(printf '%q ' "$@")"
    on_all_workers "cd $REMOTE_DIR && . .venv/bin/activate && $command"
    ;;
  *)
    echo "usage: $0 setup | run -- COMMAND..." >&2
    exit 2
    ;;
esac
