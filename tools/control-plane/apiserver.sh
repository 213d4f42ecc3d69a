#!/usr/bin/env bash
# Stops or restarts only the kube-apiserver of a control plane started by up.sh DIR, keeping
# etcd (and its data) and the controller manager running: the API-server outage that clients
# must ride out. `start` reuses the exact command line up.sh recorded, so port and PKI are the same.
# Usage: tools/control-plane/apiserver.sh DIR stop|start
# Env:   CP_STOP_TIMEOUT seconds before SIGKILL on stop (default 15)
#        CP_READY_TIMEOUT seconds to wait for /readyz on start (default 90)
set -euo pipefail
DIR=${1:?usage: apiserver.sh DIR stop|start}; ACTION=${2:?usage: apiserver.sh DIR stop|start}
die() { echo "control-plane: ERROR: $*" >&2; exit 1; }
[ -f "$DIR/apiserver.cmd" ] || die "$DIR/apiserver.cmd is missing (control plane not started by this up.sh?)"
PIDF="$DIR/apiserver.pid"

running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
ours() {
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "$(basename "${exe% (deleted)}")" = kube-apiserver ]
}

case "$ACTION" in
  stop)
    [ -f "$PIDF" ] || exit 0
    pid=$(cat "$PIDF")
    if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      tries=$(( ${CP_STOP_TIMEOUT:-15} * 5 ))
      while [ "$tries" -gt 0 ] && running "$pid"; do sleep 0.2; tries=$((tries - 1)); done
      if running "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        ! running "$pid" || die "kube-apiserver (pid $pid) survived SIGKILL"
      fi
    fi
    rm -f "$PIDF"
    ;;
  start)
    if [ -f "$PIDF" ] && running "$(cat "$PIDF")"; then die "kube-apiserver already runs (pid $(cat "$PIDF"))"; fi
    mapfile -d '' CMD <"$DIR/apiserver.cmd"
    [ "${#CMD[@]}" -gt 0 ] || die "$DIR/apiserver.cmd is empty"
    setsid "${CMD[@]}" </dev/null >>"$DIR/apiserver.log" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDF"
    SERVER=$(sed -n 's/^SERVER=//p' "$DIR/cluster.env")
    deadline=$((SECONDS + ${CP_READY_TIMEOUT:-90}))
    until curl -fsS --cacert "$DIR/pki/ca.crt" --cert "$DIR/users/admin.crt" --key "$DIR/users/admin.key" \
      "$SERVER/readyz" >/dev/null 2>&1; do
      running "$pid" || { tail -n 40 "$DIR/apiserver.log" >&2; die "kube-apiserver exited during restart"; }
      [ "$SECONDS" -lt "$deadline" ] || { tail -n 40 "$DIR/apiserver.log" >&2; die "kube-apiserver not ready within ${CP_READY_TIMEOUT:-90}s"; }
      sleep 0.3
    done
    ;;
  *) die "unknown action $ACTION (stop|start)" ;;
esac
