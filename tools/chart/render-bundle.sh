#!/usr/bin/env bash
# Renders deploy/sipflow.yaml, the kubectl bundle, from the Helm chart's defaults: a fixed release
# name and namespace, plus the Namespace object. The nonce-key Secret is left out (a bundle cannot
# generate a secret); the media pods read it optionally — see charts/sipflow/README.md. Objects are
# labelled managed-by: kubectl, not Helm, since no Helm release owns them.
# Usage: tools/chart/render-bundle.sh [OUT]   (default deploy/sipflow.yaml; "-" for stdout)
# Env: HELM (path to helm; default: the one tools/kubectl/install.sh provides).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/deploy/sipflow.yaml}
RELEASE=sipflow
NAMESPACE=sipflow-system
HELM=${HELM:-$("$ROOT/tools/kubectl/install.sh" | tail -n 1)/helm}

rendered=$("$HELM" template "$RELEASE" "$ROOT/charts/sipflow" --namespace "$NAMESPACE" \
  --set media.nonceKey.create=false | sed 's|app.kubernetes.io/managed-by: Helm|app.kubernetes.io/managed-by: kubectl|')
version=$(sed -n 's/^version: *//p' "$ROOT/charts/sipflow/Chart.yaml")

bundle() {
  cat <<HEADER
# sipflow kubectl bundle, rendered from charts/sipflow $version (default values) by
# tools/chart/render-bundle.sh — do not edit; change the chart and re-render.
# Install: kubectl apply --server-side -f deploy/sipflow.yaml
---
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
  labels:
    app.kubernetes.io/part-of: sipflow
HEADER
  printf '%s\n' "$rendered"
}

if [ "$OUT" = "-" ]; then bundle; else mkdir -p "$(dirname "$OUT")"; bundle > "$OUT"; echo "wrote $OUT" >&2; fi
