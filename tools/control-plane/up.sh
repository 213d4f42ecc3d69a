#!/usr/bin/env bash
# Starts a throw-away Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager)
# on 127.0.0.1 for sipflow's tests: openssl-made PKI, an admin kubeconfig at DIR/kubeconfig,
# PIDs in DIR/*.pid, logs in DIR/*.log. Stop it with down.sh DIR; stop/start the API server
# alone with apiserver.sh DIR stop|start.
#
# Usage: tools/control-plane/up.sh DIR     (prints DIR/kubeconfig as the last stdout line)
# Env:   K8S_BINS_DIR      dir with kube-apiserver, kube-controller-manager, etcd
#                          (default: what tools/k8s-bins/build.sh --print-dir reports)
#        APISERVER_PORT, ETCD_PORT, ETCD_PEER_PORT, KCM_PORT   fixed ports (default: free ports)
#        CP_NO_KCM=1       skip kube-controller-manager (no GC/namespace/SA controllers)
#        CP_READY_TIMEOUT  seconds to wait for readiness (default 90)
#        CP_OWNER_PID      stop the control plane when this process is gone (watchdog)
#        CP_MAX_LIFETIME   ... or after this many seconds (default 10800)
#        CP_WATCHDOG_PURGE=1  the watchdog also deletes DIR after stopping
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${1:?usage: up.sh DIR}
die() { echo "control-plane: ERROR: $*" >&2; exit 1; }
for c in openssl curl python3 base64; do command -v "$c" >/dev/null 2>&1 || die "$c is not on PATH"; done

BIN=${K8S_BINS_DIR:-$("$HERE/../k8s-bins/build.sh" --print-dir)}
for b in etcd kube-apiserver kube-controller-manager; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing; run tools/k8s-bins/build.sh first"
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
[ ! -e "$DIR/apiserver.pid" ] || die "$DIR already hosts a control plane (apiserver.pid exists)"
PKI="$DIR/pki"
mkdir -p "$PKI" "$DIR/etcd-data"
chmod 700 "$DIR/etcd-data"

# Ports are held open together while choosing so the four are distinct; the short window
# before the servers bind them again is accepted (loopback only, ephemeral range).
read -r P1 P2 P3 P4 < <(python3 - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
)
API_PORT=${APISERVER_PORT:-$P1}; ETCD_PORT=${ETCD_PORT:-$P2}; PEER_PORT=${ETCD_PEER_PORT:-$P3}; KCM_PORT=${KCM_PORT:-$P4}
SERVER="https://127.0.0.1:$API_PORT"

# On any failure below, stop whatever was already started (by PID, via down.sh).
started=0
cleanup_on_error() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$started" -eq 1 ]; then "$HERE/down.sh" "$DIR" >&2 || true; fi
  exit "$rc"
}
trap cleanup_on_error EXIT

# --- PKI ---------------------------------------------------------------------------------
ossl() { openssl "$@" 2>>"$DIR/openssl.log" || die "openssl $1 failed; see $DIR/openssl.log"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sipflow-test-ca" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >"$PKI/server.ext"
ossl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr"
ossl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
  -days 3650 -extfile "$PKI/server.ext" -out "$PKI/apiserver.crt"
ossl genrsa -out "$PKI/sa.key" 2048
ossl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
cat >"$DIR/cluster.env" <<ENV
SERVER=$SERVER
APISERVER_PORT=$API_PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$PEER_PORT
KCM_PORT=$KCM_PORT
K8S_BINS_DIR=$BIN
ENV
# Admin: O=system:masters bypasses RBAC, as a cluster-admin kubeconfig does.
"$HERE/client-cert.sh" "$DIR" admin system:masters >/dev/null
cp "$DIR/users/admin.kubeconfig" "$DIR/kubeconfig"

# --- processes ---------------------------------------------------------------------------
# setsid detaches them from the caller's terminal/process group; stdio goes to files so a
# caller reading up.sh's output is not kept waiting by inherited pipes.
start() {
  local name=$1; shift
  setsid "$@" </dev/null >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
  started=1
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

wait_for() {
  local name=$1 deadline=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 40 "$DIR/$name.log" >&2; die "$name exited during startup; log: $DIR/$name.log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$DIR/$name.log" >&2; die "$name not ready within ${CP_READY_TIMEOUT:-90}s; log: $DIR/$name.log"
    fi
    sleep 0.3
  done
}

DEADLINE=$((SECONDS + ${CP_READY_TIMEOUT:-90}))

start etcd "$BIN/etcd" --name=sipflow-test --data-dir="$DIR/etcd-data" --log-level=warn \
  --unsafe-no-fsync=true \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
  --initial-cluster="sipflow-test=http://127.0.0.1:$PEER_PORT"
wait_for etcd "$DEADLINE" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# Without kube-controller-manager nothing creates `default` ServiceAccounts, so the
# ServiceAccount admission plugin would reject every pod.
ADMISSION=()
[ "${CP_NO_KCM:-}" = 1 ] && ADMISSION=(--disable-admission-plugins=ServiceAccount)

APISERVER_CMD=("$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --authorization-mode=Node,RBAC \
  --service-account-issuer="$SERVER/" --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
  --endpoint-reconciler-type=none "${ADMISSION[@]}")
# Kept so apiserver.sh can restart the API server alone, on the same port and etcd (outage tests).
printf '%s\0' "${APISERVER_CMD[@]}" >"$DIR/apiserver.cmd"
start apiserver "${APISERVER_CMD[@]}"
wait_for apiserver "$DEADLINE" curl -fsS --cacert "$PKI/ca.crt" --cert "$DIR/users/admin.crt" \
  --key "$DIR/users/admin.key" "$SERVER/readyz"

if [ "${CP_NO_KCM:-}" != 1 ]; then
  # One admin identity for all controllers (--use-service-account-credentials=false): the
  # per-controller ServiceAccount setup of a real cluster adds nothing for these tests.
  KC="$DIR/kubeconfig"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$KC" --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
    --leader-elect=false --use-service-account-credentials=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$DIR/kcm-certs"
  wait_for kube-controller-manager "$DEADLINE" curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
fi

# A test process that is killed (SIGKILL, a closed pipe, a runner timeout) cannot run down.sh;
# this watchdog does it for the owner, and in any case after CP_MAX_LIFETIME seconds.
if [ -n "${CP_OWNER_PID:-}" ]; then
  start watchdog bash -c '
    owner=$1 dir=$2 down=$3 end=$((SECONDS + $4))
    while kill -0 "$owner" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 1; done
    echo "owner $owner gone or lifetime over; stopping the control plane"
    CP_FROM_WATCHDOG=1 "$down" "$dir" && [ "$5" = 1 ] && rm -rf "$dir"
  ' cp-watchdog "$CP_OWNER_PID" "$DIR" "$HERE/down.sh" "${CP_MAX_LIFETIME:-10800}" "${CP_WATCHDOG_PURGE:-0}"
fi

echo "$DIR/kubeconfig"
