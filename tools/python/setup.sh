#!/usr/bin/env bash
# Creates (once) the Python virtual environment the agent tests run their Python peers in
# (Plivo's stream SDK, Pipecat) and prints its path as the only line on stdout.
#
# The venv lives outside the clone, in ${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/venv-<key>, where
# <key> hashes test/python/requirements.txt and the interpreter's version, so CI and later
# sessions reuse it and a changed pin gets a fresh one. Safe to run concurrently (flock) and
# repeatedly (a finished venv carries a marker; a half-built one is rebuilt).
#
# Env: SIPFLOW_PYTHON (default python3, must be >= 3.11), SIPFLOW_CACHE.
# Exit codes: 0 ok, 2 unusable interpreter, 3 install failed (e.g. no network to PyPI).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
req="$root/test/python/requirements.txt"
python="${SIPFLOW_PYTHON:-python3}"
cache="${SIPFLOW_CACHE:-$HOME/.cache/sipflow}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup.sh: $python is missing or older than 3.11 (pipecat-ai needs >= 3.11)" >&2
  exit 2
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup.sh: $python lacks venv/ensurepip (Debian: apt-get install python3-venv)" >&2
  exit 2
fi

key="$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
venv="$cache/venv-$key"
marker="$venv/.sipflow-complete"

mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9

if [ ! -f "$marker" ]; then
  started=$SECONDS
  echo "setup.sh: building $venv (first run downloads ~150 MB from PyPI; takes a few minutes)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --timeout 30 --retries 2)
  if ! "${pip[@]}" install -q -r "$req" >&2; then
    echo "setup.sh: pip install failed; see the messages above" >&2
    rm -rf "$venv"
    exit 3
  fi
  if ! "$venv/bin/python" -c 'import plivo_stream, pipecat.serializers.plivo, uvicorn' >&2; then
    echo "setup.sh: packages installed but do not import" >&2
    rm -rf "$venv"
    exit 3
  fi
  touch "$marker"
  echo "setup.sh: venv ready in $((SECONDS - started)) s" >&2
fi

echo "$venv"
