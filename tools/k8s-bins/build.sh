#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module proxy (no Docker,
# no release downloads) for sipflow's control-plane tests; the module graph is pinned by the
# go.mod/go.sum committed next to this script, so CI only runs `go build`.
#
# Measured 2026-12-04 (2 vCPU, 23 GB RAM, Go 1.26.8, empty GOCACHE, machine shared with other work):
#   module download (go mod tidy, empty GOMODCACHE): 0:21 wall, 70 MB max RSS
#   build of all three (`/usr/bin/time -v`, nice -n 10): 18:27 wall, user 810 s + sys 163 s
#     (87% of one CPU: other jobs took the rest), max RSS 1.98 GB (a link step)
#     kube-apiserver done after ~13 min, kube-controller-manager +5 min, etcd +<1 min
#   disk: GOMODCACHE 809 MB, GOCACHE 2.8 GB, binaries 218 MB
#     (kube-apiserver 105 MB, kube-controller-manager 96 MB, etcd 27 MB, all stripped)
#   rebuild with warm GOCACHE (binaries deleted): 0:26 wall; cached (binaries present): 0.03 s
#
# Usage:
#   tools/k8s-bins/build.sh              build if needed; prints the bin dir as the last stdout line
#   tools/k8s-bins/build.sh --print-dir  print the bin dir without building
#   tools/k8s-bins/build.sh --check      exit 0 when the binaries are cached, 1 otherwise
#   tools/k8s-bins/build.sh --regen 1.37.2
#                                        rewrite go.mod/go.sum for another k8s.io/kubernetes release
#                                        (staging replaces and etcd version derived from its go.mod)
# Env: SIPFLOW_CACHE (default ~/.cache/sipflow), K8S_BINS_TIMEOUT seconds (default 2700),
#      K8S_BINS_NICE (default 10).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0
BINS=(kube-apiserver kube-controller-manager etcd)

die() { echo "k8s-bins: ERROR: $*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "go is not on PATH (need Go >= 1.26)"

# Reading the version with sed keeps the cached path free of any module-graph work.
k8s_version() {
  sed -n 's#^[[:space:]]*k8s\.io/kubernetes \(v[0-9][^ ]*\).*#\1#p' "$HERE/go.mod" | head -n1
}

out_dir() {
  local v gov
  v=$(k8s_version); [ -n "$v" ] || die "no k8s.io/kubernetes requirement in $HERE/go.mod"
  gov=$(go env GOVERSION)
  echo "${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/k8s-bins/$v-$gov"
}

is_cached() {
  local d=$1 b
  [ -f "$d/.complete" ] || return 1
  for b in "${BINS[@]}"; do [ -x "$d/$b" ] || return 1; done
}

regen() {
  local kv=${1:?usage: build.sh --regen <k8s version, e.g. 1.36.3>}
  kv=${kv#v}
  local mp=${kv#1.} tmp gomod etcd_v m
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  gomod=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@v$kv" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$kv"
  etcd_v=$(sed -n 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$gomod" | head -n1)
  [ -n "$etcd_v" ] || die "k8s.io/kubernetes@v$kv does not pin go.etcd.io/etcd/server/v3"
  cd "$HERE"
  rm -f go.sum
  {
    echo "module sipflow.local/k8sbins"; echo
    sed -n 's/^\(go [0-9.]*\).*/\1/p' "$gomod"; echo
    # k8s.io/kubernetes's godebug defaults are part of how upstream builds the binaries.
    sed -n 's/^\(godebug .*\)/\1/p' "$gomod"; echo
    echo "require ("
    echo "	go.etcd.io/etcd/server/v3 $etcd_v"
    echo "	k8s.io/kubernetes v$kv"
    echo ")"; echo
    # Staging modules are required at v0.0.0 and replaced by ./staging paths upstream; only the
    # main module's replaces count, so each one is pinned to its published v0.<minor>.<patch>.
    echo "replace ("
    for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod"); do
      echo "	$m => $m v0.$mp"
    done
    echo ")"; echo
    echo "tool ("
    echo "	go.etcd.io/etcd/server/v3"
    echo "	k8s.io/kubernetes/cmd/kube-apiserver"
    echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
    echo ")"
  } >go.mod
  go mod tidy
  echo "k8s-bins: go.mod now pins k8s.io/kubernetes v$kv, etcd $etcd_v; commit go.mod and go.sum" >&2
}

build() {
  local out=$1 v minor tmp ldf vpkg cpkg nice_n=${K8S_BINS_NICE:-10}
  v=$(k8s_version); minor=${v#v1.}; minor=${minor%%.*}
  mkdir -p "$(dirname "$out")"
  # Concurrent test files may all ask for the binaries; only one of them compiles.
  exec 9>"$(dirname "$out")/.build.lock"
  flock 9
  if is_cached "$out"; then return 0; fi
  tmp="$out.tmp.$$"
  rm -rf "$out".tmp.*  # left by builds that were killed; we hold the lock, so none is running
  mkdir -p "$tmp"
  # Without these the server reports v0.0.0-master, which trips kubectl/helm version checks.
  vpkg=k8s.io/component-base/version; cpkg=k8s.io/client-go/pkg/version
  ldf="-s -w"
  for p in $vpkg $cpkg; do
    ldf+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  cd "$HERE"
  echo "k8s-bins: building $v into $out (cold builds take 10-30 min)" >&2
  local -a gob=(nice -n "$nice_n" go build -mod=readonly -trimpath -buildvcs=false)
  "${gob[@]}" -ldflags "$ldf" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  "${gob[@]}" -ldflags "$ldf" -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  "${gob[@]}" -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  "$tmp/kube-apiserver" --version >&2
  "$tmp/kube-controller-manager" --version >&2
  "$tmp/etcd" --version >&2
  rm -rf "$out"; mv "$tmp" "$out"
  touch "$out/.complete"
}

# Everything runs from main, called on the last line together with exit: bash reads scripts
# lazily, so a checkout that rewrites this file mid-build must not change what runs next.
main() {
  case "${1:-}" in
    --print-dir) out_dir; exit 0 ;;
    --check) is_cached "$(out_dir)"; exit $? ;;
    --regen) shift; regen "$@"; exit 0 ;;
    --inner) shift; build "$(out_dir)"; exit 0 ;;
    "") ;;
    *) die "unknown argument: $1" ;;
  esac

  OUT=$(out_dir)
  if ! is_cached "$OUT"; then
    limit=${K8S_BINS_TIMEOUT:-2700}
    set +e
    timeout --kill-after=30 "$limit" "${BASH_SOURCE[0]}" --inner
    rc=$?
    set -e
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      die "build exceeded ${limit}s (K8S_BINS_TIMEOUT); partial output left in $OUT.tmp.*"
    fi
    [ "$rc" -eq 0 ] || die "go build failed (exit $rc); see the output above"
    is_cached "$OUT" || die "build finished but $OUT is incomplete"
  fi
  echo "$OUT"
}

main "$@"; exit $?
