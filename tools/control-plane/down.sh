#!/usr/bin/env bash
# Stops a control plane started by up.sh DIR: kills only the PIDs recorded in DIR/*.pid
# (SIGTERM, bounded wait, then SIGKILL) and removes the pid files. Safe to run twice.
# Usage: tools/control-plane/down.sh DIR    Env: CP_STOP_TIMEOUT seconds before SIGKILL (default 15)
set -euo pipefail
DIR=${1:?usage: down.sh DIR}
GRACE=${CP_STOP_TIMEOUT:-15}

# A recorded PID may have been reused after a crash; only signal it while it still runs the
# binary we started.
ours() {
  local pid=$1 name=$2 exe
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "$(basename "${exe% (deleted)}")" = "$name" ]
}

# The servers are reparented to init once up.sh exits; an init that is slow to reap leaves a
# zombie, which kill -0 still reports, so a zombie counts as gone.
running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

wait_gone() {
  local pid=$1 tries=$2
  while [ "$tries" -gt 0 ] && running "$pid"; do sleep 0.2; tries=$((tries - 1)); done
  ! running "$pid"
}

rc=0
# Watchdog first (it would otherwise race us), then reverse start order: controllers first, etcd
# last, so nothing logs storage errors on the way down.
for name in watchdog kube-controller-manager apiserver etcd; do
  f="$DIR/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  bin=$name; [ "$name" = apiserver ] && bin=kube-apiserver; [ "$name" = watchdog ] && bin=bash
  # The watchdog runs this script itself; it must not wait for its own exit.
  if [ "$name" = watchdog ] && [ -n "${CP_FROM_WATCHDOG:-}" ]; then rm -f "$f"; continue; fi
  if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" "$bin"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" $((GRACE * 5)); then
      echo "control-plane: $name (pid $pid) ignored SIGTERM for ${GRACE}s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 25 || { echo "control-plane: $name (pid $pid) survived SIGKILL" >&2; rc=1; continue; }
    fi
  fi
  rm -f "$f"
done
exit "$rc"
