#!/usr/bin/env bash
# Creates (once) the Python virtual environment the agent tests run their Python peers in
# (Plivo's stream SDK, Pipecat; pipecat-ai needs Python >= 3.11) and prints its path as the only
# line on stdout: ${SIPFLOW_CACHE:-$HOME/.cache/sipflow}/venv-<key>. See venv-lib.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=venv-lib.sh
. "$here/venv-lib.sh"

agents_import() { "$1/bin/python" -c 'import plivo_stream, pipecat.serializers.plivo, uvicorn, pylibsrtp'; }
ensure_venv venv "$here/../../test/python/requirements.txt" 11 agents_import
