#!/usr/bin/env bash
# The main job: set-up (cached), then the local demo cluster in the foreground until Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"

# The real node's pieces and the images (cached by content hash), before the demo starts.
# TRADEFLEET_NODE=dev skips them; with auto a failure here is reported and the demo runs on the
# dev node agent.
if [ "${TRADEFLEET_NODE:-auto}" != dev ]; then
  if ! { bash "$REPO/scripts/build-node.sh" --runtime && bash "$REPO/scripts/build-images.sh"; }; then
    [ "${TRADEFLEET_NODE:-auto}" = real ] && exit 1
    echo "the real node's pieces could not be built (see above): the demo's pods run on the dev node agent" >&2
  fi
fi
exec python -m tradefleet_devtools.cli up "$@"
