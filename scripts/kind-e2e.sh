#!/usr/bin/env bash
# End-to-end on kind, where Docker is available (not on the dev machines: they have no container
# engine). Creates a kind cluster whose two workers are labelled for two regions, builds the
# operator, runtime and research images from the Dockerfile and loads them into kind, installs the chart
# once per region (Helm's library, helm-sdkpy, as the tests do), then runs
#   pytest tests/e2e   with TRADEFLEET_KUBECONFIG pointing at the kind cluster.
# Extra arguments go to pytest. Environment:
#   TRADEFLEET_KIND_CLUSTER  cluster name (default tradefleet-e2e)
#   TRADEFLEET_IMAGE_TAG     image tag to build and install (default e2e)
#   TRADEFLEET_KIND_KEEP=1   keep the cluster afterwards (default: delete it)
set -euo pipefail

die() {
  printf 'kind-e2e: %s\n' "$*" >&2
  exit 1
}

# Fail fast, before any set-up, when the tools are not there.
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed or not on PATH. This script needs Docker, kind (https://kind.sigs.k8s.io) and kubectl; on machines without a container engine use 'bash scripts/test.sh' (local control plane + dev node agent) instead."
done
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable ('docker info' failed): start Docker, or check that this user may use it."

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="${TRADEFLEET_KIND_CLUSTER:-tradefleet-e2e}"
TAG="${TRADEFLEET_IMAGE_TAG:-e2e}"
OPERATOR_IMAGE="ghcr.io/tradefleet/operator:$TAG"
RUNTIME_IMAGE="ghcr.io/tradefleet/bot-runtime:$TAG"
RESEARCH_IMAGE="ghcr.io/tradefleet/research:$TAG"
NAMESPACE=tradefleet-system
# Worker node → region; the first region's release installs the CRDs.
REGIONS=(ap-northeast-1 ap-southeast-1)

log() { printf '[kind-e2e] %s\n' "$*"; }

# The project's virtualenv (pytest, helm-sdkpy) and PYTHONPATH.
# shellcheck source=scripts/bootstrap.sh
source "$REPO/scripts/bootstrap.sh"

WORK="$(mktemp -d -t tradefleet-kind-XXXXXX)"
KUBECONFIG_FILE="$WORK/kubeconfig"
cleanup() {
  if [ "${TRADEFLEET_KIND_KEEP:-0}" = "1" ]; then
    log "keeping cluster $CLUSTER (kubeconfig: $KUBECONFIG_FILE)"
  else
    log "deleting cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "reusing kind cluster $CLUSTER"
else
  log "creating kind cluster $CLUSTER (1 control plane, ${#REGIONS[@]} workers)"
  cat > "$WORK/kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
$(for _ in "${REGIONS[@]}"; do printf '  - role: worker\n'; done)
KIND
  kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --wait 120s
fi
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG_FILE"
export KUBECONFIG="$KUBECONFIG_FILE"

log "labelling workers with their regions"
mapfile -t WORKERS < <(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o name | sort)
[ "${#WORKERS[@]}" -ge "${#REGIONS[@]}" ] || die "expected ${#REGIONS[@]} worker nodes, found ${#WORKERS[@]}"
for i in "${!REGIONS[@]}"; do
  kubectl label --overwrite "${WORKERS[$i]}" "topology.kubernetes.io/region=${REGIONS[$i]}"
done

log "building $OPERATOR_IMAGE, $RUNTIME_IMAGE and $RESEARCH_IMAGE"
docker build --target operator -t "$OPERATOR_IMAGE" "$REPO"
docker build --target runtime -t "$RUNTIME_IMAGE" "$REPO"
# The optimiser Jobs' image: the runtime plus the research extra (optuna, numba, tqdm).
docker build --target research -t "$RESEARCH_IMAGE" "$REPO"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$RUNTIME_IMAGE" "$RESEARCH_IMAGE"

for i in "${!REGIONS[@]}"; do
  region="${REGIONS[$i]}"
  crds=false
  [ "$i" -eq 0 ] && crds=true
  cat > "$WORK/values-$region.yaml" <<VALUES
region: $region
regionAffinity: required
crds:
  create: $crds
operator:
  image:
    tag: "$TAG"
runtime:
  image:
    tag: "$TAG"
  optimizerImage:
    tag: "$TAG"
VALUES
  log "installing the chart for $region"
  "$TRADEFLEET_PYTHON" "$REPO/tests/integration/helm/chart_install.py" install \
    --kubeconfig "$KUBECONFIG_FILE" --release "tradefleet-$region" --namespace "$NAMESPACE" \
    --values "$WORK/values-$region.yaml"
done

log "running tests/e2e against $CLUSTER"
cd "$REPO"
TRADEFLEET_KUBECONFIG="$KUBECONFIG_FILE" "$TRADEFLEET_PYTHON" -m pytest tests/e2e "$@"
