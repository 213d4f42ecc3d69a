#!/usr/bin/env bash
# Creates (once) a small virtual environment holding SIPVicious (svcrack) for the hostile-input
# tests and prints its path as the only line on stdout. Kept apart from setup.sh's large agent
# venv so adding the attack tool does not rebuild Pipecat's environment.
#
# The venv lives in ${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/svcrack-venv-<key>, <key> hashing
# svcrack-requirements.txt and the interpreter version. Safe to run concurrently (flock) and
# repeatedly (a finished venv carries a marker; a half-built one is rebuilt).
#
# Env: SIPFLOW_PYTHON (default python3, >= 3.8), SIPFLOW_CACHE.
# Exit codes: 0 ok, 2 unusable interpreter, 3 install failed (e.g. no network to PyPI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/svcrack-requirements.txt"
python="${SIPFLOW_PYTHON:-python3}"
cache="${SIPFLOW_CACHE:-$HOME/.cache/sipflow}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' 2>/dev/null; then
  echo "setup-svcrack.sh: $python is missing or older than 3.8" >&2
  exit 2
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup-svcrack.sh: $python lacks venv/ensurepip (Debian: apt-get install python3-venv)" >&2
  exit 2
fi

key="$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
venv="$cache/svcrack-venv-$key"
marker="$venv/.sipflow-complete"

mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9

if [ ! -f "$marker" ]; then
  started=$SECONDS
  echo "setup-svcrack.sh: building $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --timeout 30 --retries 2)
  if ! "${pip[@]}" install -q -r "$req" >&2; then
    echo "setup-svcrack.sh: pip install failed; see the messages above" >&2
    rm -rf "$venv"
    exit 3
  fi
  if [ ! -x "$venv/bin/sipvicious_svcrack" ]; then
    echo "setup-svcrack.sh: sipvicious installed but sipvicious_svcrack is missing" >&2
    rm -rf "$venv"
    exit 3
  fi
  touch "$marker"
  echo "setup-svcrack.sh: venv ready in $((SECONDS - started)) s" >&2
fi

echo "$venv"
