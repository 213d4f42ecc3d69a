#!/usr/bin/env bash
# Creates (once) a small virtual environment holding SIPVicious (svcrack) for the hostile-input
# tests and prints its path as the only line on stdout. Kept apart from setup.sh's large agent
# venv so adding the attack tool does not rebuild Pipecat's environment. See venv-lib.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=venv-lib.sh
. "$here/venv-lib.sh"

svcrack_present() { [ -x "$1/bin/sipvicious_svcrack" ]; }
ensure_venv svcrack-venv "$here/svcrack-requirements.txt" 8 svcrack_present
