#!/usr/bin/env bash
# The main job: set-up (cached), then the local demo cluster in the foreground until Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"
exec python -m tradefleet_devtools.cli up "$@"
