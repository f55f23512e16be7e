#!/usr/bin/env bash
# Regenerates what is derived from a single source, after changing crds/ or helm/tradefleet/:
#   - helm/tradefleet/files/crds/*.yaml: byte-for-byte copies of crds/*.yaml (the chart cannot
#     read files outside itself);
#   - manifests/install/: the chart rendered by Helm for the four default regions (a throwaway
#     local control plane is started for it: Helm's library renders by installing);
#   - docs/helm-values.md: from the `# --` comments of helm/tradefleet/values.yaml.
# tests/unit/helm and tests/integration/helm fail until both are current.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$REPO/scripts/bootstrap.sh"

CHART_CRDS="$REPO/helm/tradefleet/files/crds"
mkdir -p "$CHART_CRDS"
rm -f "$CHART_CRDS"/*.yaml
cp "$REPO"/crds/*.yaml "$CHART_CRDS/"
echo "copied crds/*.yaml to $CHART_CRDS"

OUT="$REPO/manifests/install"
mkdir -p "$OUT"
rm -f "$OUT"/*.yaml
"$TRADEFLEET_PYTHON" "$REPO/tests/integration/helm/chart_install.py" manifests --out "$OUT"

"$TRADEFLEET_PYTHON" "$REPO/tests/unit/helm/values_doc.py"
