#!/usr/bin/env bash
# Runs admire-jax on every worker of a Cloud TPU VM pod slice, and restarts a run after preemption.
#
#   launch/tpu_pod.sh setup                 copy this checkout to all workers and install it
#   launch/tpu_pod.sh once -- COMMAND...    run COMMAND on all workers at once, one time
#   launch/tpu_pod.sh run -- COMMAND...     run COMMAND on all workers until its run folder's
#                                           result.json says ok or diverged, e.g.
#   launch/tpu_pod.sh run -- admire-jax train --gin_file=configs/models/1b.gin --run_dir=/shared/runs/1b
#
# Needs: TPU_NAME and ZONE (and PROJECT, unless gcloud has a default). On a TPU pod every worker
# runs the same command; jax.distributed finds the coordinator, process count and process id
# by itself, so no extra flags are needed.
#
# `run` reads the run folder from the command's --run_dir (RUN_DIR overrides; a relative path is
# relative to REMOTE_DIR on worker 0). After each attempt it reads result.json on worker 0: ok and
# diverged are done; any other ending starts the command again, which resumes from the run's
# latest checkpoint, up to MAX_ATTEMPTS (10) attempts, RETRY_SECONDS (30) apart. That covers a
# preempted run (SIGTERM on a spot VM: every worker saves a checkpoint of the same step, result.json
# says "preempted", the trainer exits 75), a lost VM, a failed run and no result at all. Put the
# run folder on storage that outlives a VM (a GCS FUSE mount, Filestore).
#
# Spot capacity through a queued resource: set QUEUED_RESOURCE (its name), ACCELERATOR_TYPE and
# RUNTIME_VERSION. Before every attempt the queued resource must be ACTIVE: while it waits for
# capacity the launcher waits; once it is SUSPENDED or FAILED (a preempted spot slice) it is
# deleted and requested again with --spot, then set up again (WORKER_SETUP, if set, runs on all
# workers afterwards, e.g. to mount the bucket that holds the run folder).
#
# Exit codes: 0 ok (or `once` succeeded), 1 diverged, out of attempts or failed, 2 bad usage.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME to the TPU VM name}"
: "${ZONE:?set ZONE to the TPU zone, e.g. us-east5-a}"
REMOTE_DIR="${REMOTE_DIR:-admire-jax}"
MAX_ATTEMPTS="${MAX_ATTEMPTS:-10}"
RETRY_SECONDS="${RETRY_SECONDS:-30}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

gcloud_tpu() {
  local verb="$1"
  shift
  gcloud compute tpus tpu-vm "$verb" ${PROJECT:+--project="$PROJECT"} --zone="$ZONE" "$@"
}

gcloud_queued() {
  local verb="$1"
  shift
  gcloud compute tpus queued-resources "$verb" "$QUEUED_RESOURCE" ${PROJECT:+--project="$PROJECT"} \
    --zone="$ZONE" "$@"
}

on_all_workers() {
  gcloud_tpu ssh "$TPU_NAME" --worker=all --command="$1"
}

# Each step says `|| return 1`: the restart loop calls this where `set -e` does not apply.
setup() {
  local tarball
  tarball="$(mktemp --suffix=.tar.gz)" || return 1
  git -C "$here" archive --format=tar.gz -o "$tarball" HEAD || return 1
  gcloud_tpu scp "$tarball" "$TPU_NAME:admire-jax.tar.gz" --worker=all || return 1
  rm -f "$tarball"
  on_all_workers "mkdir -p $REMOTE_DIR && tar -xzf admire-jax.tar.gz -C $REMOTE_DIR && cd $REMOTE_DIR \
    && python3 -m venv .venv && . .venv/bin/activate \
    && pip install -q -e '.[tpu]' -c constraints.txt" || return 1
  if [ -n "${WORKER_SETUP:-}" ]; then
    on_all_workers "$WORKER_SETUP" || return 1
  fi
}

# Waits until the queued resource is ACTIVE; requests it again once it was lost (and marks the
# new slice as needing setup).
needs_setup=0
ensure_active() {
  local state
  while :; do
    state="$(gcloud_queued describe --format='value(state.state)' 2>/dev/null || echo MISSING)"
    case "$state" in
      ACTIVE) return 0 ;;
      SUSPENDED | SUSPENDING | FAILED | MISSING)
        echo "tpu_pod: queued resource $QUEUED_RESOURCE is $state; requesting it again" >&2
        if [ "$state" != MISSING ]; then
          gcloud_queued delete --force --quiet || return 1
        fi
        gcloud_queued create --node-id="$TPU_NAME" --accelerator-type="$ACCELERATOR_TYPE" \
          --runtime-version="$RUNTIME_VERSION" --spot || return 1
        needs_setup=1
        ;;
      *) echo "tpu_pod: queued resource $QUEUED_RESOURCE is $state; waiting" >&2 ;;
    esac
    sleep "$RETRY_SECONDS"
  done
}

# The run folder named by the command (--run_dir=DIR or --run_dir DIR), or RUN_DIR.
run_dir_of() {
  local previous=""
  for arg in "$@"; do
    case "$arg" in --run_dir=*) echo "${arg#--run_dir=}"; return 0 ;; esac
    if [ "$previous" = --run_dir ]; then echo "$arg"; return 0; fi
    previous="$arg"
  done
}

# The status in the run's result.json on worker 0, or nothing when there is none.
result_status() {
  gcloud_tpu ssh "$TPU_NAME" --worker=0 --command="cd $REMOTE_DIR && cat -- $(printf '%q' "$1")/result.json" \
    2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", ""))' 2>/dev/null || true
}

run_until_done() {
  local command="$1" run_dir="$2" attempt status
  for ((attempt = 1; attempt <= MAX_ATTEMPTS; attempt++)); do
    if [ -n "${QUEUED_RESOURCE:-}" ]; then
      ensure_active || { sleep "$RETRY_SECONDS"; continue; }
      if [ "$needs_setup" = 1 ]; then
        setup || { sleep "$RETRY_SECONDS"; continue; }
        needs_setup=0
      fi
    fi
    echo "tpu_pod: attempt $attempt of $MAX_ATTEMPTS" >&2
    on_all_workers "cd $REMOTE_DIR && . .venv/bin/activate && $command" || true
    status="$(result_status "$run_dir")"
    case "$status" in
      ok) echo "tpu_pod: $run_dir finished ok" >&2; return 0 ;;
      diverged) echo "tpu_pod: $run_dir diverged; not restarting" >&2; return 1 ;;
    esac
    echo "tpu_pod: attempt $attempt ended with status '${status:-no result}'; restarting" >&2
    sleep "$RETRY_SECONDS"
  done
  echo "tpu_pod: $run_dir has no ok result after $MAX_ATTEMPTS attempts; giving up" >&2
  return 1
}

usage() {
  echo "usage: $0 setup | once -- COMMAND... | run -- COMMAND...  (run: COMMAND has --run_dir, or set RUN_DIR)" >&2
  exit 2
}

verb="${1:-}"
[ "$#" -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
case "$verb" in
  setup) setup ;;
  once | run)
    [ "$#" -gt 0 ] || usage
    command="$(printf '%q ' "$@")"
    if [ "$verb" = once ]; then
      on_all_workers "cd $REMOTE_DIR && . .venv/bin/activate && $command"
      exit
    fi
    run_dir="${RUN_DIR:-$(run_dir_of "$@")}"
    [ -n "$run_dir" ] || usage
    if [ -n "${QUEUED_RESOURCE:-}" ]; then
      : "${ACCELERATOR_TYPE:?set ACCELERATOR_TYPE (e.g. v5p-32) to request the queued resource again}"
      : "${RUNTIME_VERSION:?set RUNTIME_VERSION (e.g. v2-alpha-tpuv5) to request the queued resource again}"
    fi
    run_until_done "$command" "$run_dir"
    ;;
  *) usage ;;
esac
