#!/usr/bin/env bash
# End-to-end on kind, where Docker is available (not on the dev machines: they have no container
# engine). Creates a kind cluster whose two workers are labelled for the two operator regions,
# builds the runtime and research images from the Dockerfile and loads them into kind
# (`kind load docker-image`), then runs
#   pytest tests/e2e   with TRADEFLEET_KUBECONFIG pointing at the kind cluster.
# The e2e stack fixture then starts no control plane and no node of its own: it installs the CRDs
# into kind, runs Redis, the local exchange and one operator per region on this machine (as the
# demo does; the operators are processes the tests stop and restart), and the bots' pods run in
# kind from the loaded images, reaching Redis and the exchange at the kind network's gateway
# (TRADEFLEET_POD_HOST). The operators reach the pods through routes to each node's pod CIDR.
# No Debian bootstrap (no apt, no control plane or kubelet build): a virtualenv with the project's
# dev dependencies is all it sets up. Needs docker, kind, kubectl, python3 (3.11+), redis-server
# and ip on PATH, and root (or sudo) for the routes. Extra arguments go to pytest. Environment:
#   TRADEFLEET_KIND_CLUSTER  cluster name (default tradefleet-e2e)
#   TRADEFLEET_IMAGE_TAG     image tag to build and load (default e2e)
#   TRADEFLEET_KIND_KEEP=1   keep the cluster afterwards (default: delete it)
set -euo pipefail

die() {
  printf 'kind-e2e: %s\n' "$*" >&2
  exit 1
}

# Fail fast, before any set-up, when the tools are not there.
for tool in docker kind kubectl python3 redis-server ip; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed or not on PATH. This script needs Docker, kind (https://kind.sigs.k8s.io), kubectl, python3, redis-server and iproute2; on machines without a container engine use 'bash scripts/test.sh' (local control plane + a real kubelet with containerd) instead."
done
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable ('docker info' failed): start Docker, or check that this user may use it."
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="${TRADEFLEET_KIND_CLUSTER:-tradefleet-e2e}"
TAG="${TRADEFLEET_IMAGE_TAG:-e2e}"
RUNTIME_IMAGE="ghcr.io/tradefleet/bot-runtime:$TAG"
RESEARCH_IMAGE="ghcr.io/tradefleet/research:$TAG"
# Worker node → region: the e2e stack's operator regions (tradefleet_devtools.stack.OPERATOR_REGIONS).
REGIONS=(ap-northeast-1 ap-southeast-1)

log() { printf '[kind-e2e] %s\n' "$*"; }

# The project's dev dependencies in a virtualenv keyed by them (as bootstrap.sh keys its own).
export TRADEFLEET_CACHE="${TRADEFLEET_CACHE:-$HOME/.cache/tradefleet}"
REQS="$(python3 "$REPO/scripts/requirements.py" dev)"
VENV="$TRADEFLEET_CACHE/kind-venv-$(printf '%s\n%s\n' "$REQS" "$(python3 -V)" | sha256sum | cut -c1-16)"
if [ ! -f "$VENV/.complete" ]; then
  log "creating virtualenv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  printf '%s\n' "$REQS" | "$VENV/bin/pip" install -q -r /dev/stdin
  touch "$VENV/.complete"
fi
export PYTHONPATH="$REPO/operator:$REPO/bot-runtime:$REPO/devtools"

WORK="$(mktemp -d -t tradefleet-kind-XXXXXX)"
KUBECONFIG_FILE="$WORK/kubeconfig"
ROUTES=()
cleanup() {
  for route in "${ROUTES[@]}"; do
    # shellcheck disable=SC2086
    "${SUDO[@]}" ip route delete $route >/dev/null 2>&1 || true
  done
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

log "building $RUNTIME_IMAGE and $RESEARCH_IMAGE"
docker build --target runtime -t "$RUNTIME_IMAGE" "$REPO"
# The optimizer Jobs' image: the runtime plus the research extra (optuna, numba, tqdm).
docker build --target research -t "$RESEARCH_IMAGE" "$REPO"
kind load docker-image --name "$CLUSTER" "$RUNTIME_IMAGE" "$RESEARCH_IMAGE"

# Pods reach this machine at the kind network's gateway; the operators on this machine reach the
# pods (their /status) through a route to each node's pod CIDR via the node's address.
POD_HOST="$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 -E '^[0-9]+(\.[0-9]+){3}$')" \
  || die "no IPv4 gateway on the docker network 'kind'"
while read -r cidr address; do
  [ -n "$cidr" ] || continue
  "${SUDO[@]}" ip route replace "$cidr" via "$address"
  ROUTES+=("$cidr via $address")
done < <(kubectl get nodes -o jsonpath='{range .items[*]}{.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
log "pods reach this machine at $POD_HOST; routes: ${ROUTES[*]}"

log "running tests/e2e against $CLUSTER"
cd "$REPO"
TRADEFLEET_KUBECONFIG="$KUBECONFIG_FILE" TRADEFLEET_POD_HOST="$POD_HOST" \
  TRADEFLEET_RUNTIME_IMAGE="$RUNTIME_IMAGE" TRADEFLEET_OPTIMIZER_IMAGE="$RESEARCH_IMAGE" \
  "$VENV/bin/python" -m pytest tests/e2e "$@"
