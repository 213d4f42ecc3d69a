# Shared by setup.sh and setup-svcrack.sh: creates (once) a Python virtual environment outside the
# clone and prints its path as the only line on stdout.
#
# ensure_venv TAG REQUIREMENTS MIN_MINOR CHECK_FUNCTION
#   The venv lives in ${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/<TAG>-<key>, <key> hashing the
#   requirements file and the interpreter's version, so CI and later sessions reuse it and a changed
#   pin gets a fresh one. Safe to run concurrently (flock) and repeatedly (a finished venv carries a
#   marker; a half-built one is rebuilt). CHECK_FUNCTION is called with the venv path after pip and
#   must succeed for the venv to count as built.
# Env: SIPFLOW_PYTHON (default python3), SIPFLOW_CACHE.
# Exit codes: 2 unusable interpreter, 3 install failed (e.g. no network to PyPI).

ensure_venv() {
  local tag="$1" req="$2" min_minor="$3" check="$4"
  local me python cache key venv marker started
  me="$(basename "$0")"
  python="${SIPFLOW_PYTHON:-python3}"
  cache="${SIPFLOW_CACHE:-$HOME/.cache/sipflow}"

  if ! "$python" -c "import sys; sys.exit(0 if sys.version_info >= (3, $min_minor) else 1)" 2>/dev/null; then
    echo "$me: $python is missing or older than 3.$min_minor" >&2
    exit 2
  fi
  if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "$me: $python lacks venv/ensurepip (Debian: apt-get install python3-venv)" >&2
    exit 2
  fi

  key="$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
  venv="$cache/$tag-$key"
  marker="$venv/.sipflow-complete"

  mkdir -p "$cache"
  exec 9>"$venv.lock"
  flock 9

  if [ ! -f "$marker" ]; then
    started=$SECONDS
    echo "$me: building $venv (downloads from PyPI on first run)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    local pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --timeout 30 --retries 2)
    if ! "${pip[@]}" install -q -r "$req" >&2; then
      echo "$me: pip install failed; see the messages above" >&2
      rm -rf "$venv"
      exit 3
    fi
    if ! "$check" "$venv" >&2; then
      echo "$me: packages installed but not usable" >&2
      rm -rf "$venv"
      exit 3
    fi
    touch "$marker"
    echo "$me: venv ready in $((SECONDS - started)) s" >&2
  fi

  echo "$venv"
}
