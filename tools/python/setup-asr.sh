#!/usr/bin/env bash
# Creates (once) the small virtual environment of the test speech recognizer (PocketSphinx and
# websockets) and prints its path as the only line on stdout. Kept apart from setup.sh's large
# agent venv. See venv-lib.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=venv-lib.sh
. "$here/venv-lib.sh"

asr_import() { "$1/bin/python" -c 'import pocketsphinx, websockets.asyncio.server'; }
ensure_venv asr-venv "$here/asr-requirements.txt" 11 asr_import
