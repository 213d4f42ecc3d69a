#!/usr/bin/env bash
# Issues a client certificate from a control plane's test CA and writes a kubeconfig for it,
# so tests can act as a specific user/groups (CN = user, O = each group).
# Usage: tools/control-plane/client-cert.sh DIR USER [GROUP...]
#        prints DIR/users/USER.kubeconfig; needs DIR/pki/ca.{crt,key} and DIR/cluster.env.
set -euo pipefail
DIR=${1:?usage: client-cert.sh DIR USER [GROUP...]}; USER_NAME=${2:?usage: client-cert.sh DIR USER [GROUP...]}
shift 2
die() { echo "client-cert: ERROR: $*" >&2; exit 1; }
PKI="$DIR/pki"
[ -f "$PKI/ca.key" ] && [ -f "$DIR/cluster.env" ] || die "$DIR has no control-plane PKI (run up.sh)"
SERVER=$(sed -n 's/^SERVER=//p' "$DIR/cluster.env")
case "$USER_NAME" in */* | *,* | *=*) die "user name must not contain '/', ',' or '='" ;; esac
SUBJ=""
for g in "$@"; do
  case "$g" in */* | *,* | *=*) die "group must not contain '/', ',' or '='" ;; esac
  SUBJ+="/O=$g"
done
SUBJ+="/CN=$USER_NAME"
mkdir -p "$DIR/users"
OUT="$DIR/users/$USER_NAME"
printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >"$PKI/client.ext"
{
  openssl req -newkey rsa:2048 -nodes -subj "$SUBJ" -keyout "$OUT.key" -out "$OUT.csr" &&
  openssl x509 -req -in "$OUT.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/client.ext" -out "$OUT.crt"
} 2>>"$DIR/openssl.log" || die "issuing a certificate for $USER_NAME failed; see $DIR/openssl.log"
b64() { base64 -w0 "$1"; }
cat >"$OUT.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: sipflow-test
  cluster:
    server: "$SERVER"
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: "$USER_NAME"
  user:
    client-certificate-data: $(b64 "$OUT.crt")
    client-key-data: $(b64 "$OUT.key")
contexts:
- name: sipflow-test
  context:
    cluster: sipflow-test
    user: "$USER_NAME"
current-context: sipflow-test
KC
chmod 600 "$OUT.key" "$OUT.kubeconfig"
echo "$OUT.kubeconfig"
