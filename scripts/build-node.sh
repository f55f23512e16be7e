#!/usr/bin/env bash
# The pieces of a real Kubernetes node, built or installed offline (Debian's package servers only):
#   - kubelet and kubectl, built from the same Debian `kubernetes` source tree as the control plane
#     (scripts/build-control-plane.sh unpacks it), into $TRADEFLEET_CACHE/node/bin;
#   - with --runtime also containerd, runc and the CNI plugins (Debian packages containerd, runc,
#     containernetworking-plugins; iptables and conntrack for the kubelet and the pod network), and
#     the pod sandbox ("pause") image: build/pause/linux/pause.c of the same tree compiled static
#     with Debian's gcc, in an image of its own (localhost/tradefleet/pause:<hash>) saved as an OCI
#     archive.
# Cached by recipe and content hash: a second run does nothing. Writes
# $TRADEFLEET_CACHE/node/node.env (KUBELET, KUBECTL, PAUSE_IMAGE, PAUSE_ARCHIVE) for
# devtools/tradefleet_devtools/realnode. Called by scripts/bootstrap.sh (kubectl always; the rest
# when a real node is wanted).
set -euo pipefail

CACHE="${TRADEFLEET_CACHE:-$HOME/.cache/tradefleet}"
TREE="$CACHE/control-plane/src/tree"
NODE="$CACHE/node"
BIN="$NODE/bin"
# Bump when the recipe below changes, so cached binaries from an older recipe are rebuilt.
RECIPE="1: kubelet + kubectl, CGO off, from the control plane's tree"
WITH_RUNTIME=0
[ "${1:-}" = "--runtime" ] && WITH_RUNTIME=1

log() { printf '[build-node] %s\n' "$*"; }
die() { printf '[build-node] error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$BIN"
# One build at a time on a machine (several shells may bootstrap at once); the others wait.
exec 9>"$NODE/.lock"
flock 9

if [ -x "$BIN/kubelet" ] && [ -x "$BIN/kubectl" ] && [ "$(cat "$BIN/.recipe" 2>/dev/null)" = "$RECIPE" ]; then
  :
else
  [ -d "$TREE/cmd/kubelet" ] || die "no kubernetes source tree at $TREE: run scripts/build-control-plane.sh first"
  log "building kubelet and kubectl (about 3 minutes on 2 cores the first time)"
  (
    cd "$TREE/.go/src/k8s.io/kubernetes"
    export GOPATH="$TREE/.go" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$CACHE/control-plane/gocache"
    make WHAT="cmd/kubelet cmd/kubectl" >"$NODE/build.log" 2>&1 \
      || { tail -n 40 "$NODE/build.log"; exit 1; }
  )
  for b in kubelet kubectl; do
    install -m 0755 "$TREE/_output/local/bin/linux/amd64/$b" "$BIN/$b"
  done
  printf '%s' "$RECIPE" >"$BIN/.recipe"
  log "built kubelet and kubectl into $BIN"
fi

PAUSE_SRC="$TREE/build/pause/linux/pause.c"
[ -f "$PAUSE_SRC" ] || die "no $PAUSE_SRC in the kubernetes source tree"
PAUSE_KEY="$(sha256sum "$PAUSE_SRC" | cut -c1-12)"
PAUSE_REF="localhost/tradefleet/pause:$PAUSE_KEY"
PAUSE_ARCHIVE="$NODE/pause-$PAUSE_KEY.oci.tar"

write_env() {
  {
    printf 'KUBELET=%s\nKUBECTL=%s\n' "$BIN/kubelet" "$BIN/kubectl"
    if [ -f "$PAUSE_ARCHIVE" ]; then
      printf 'PAUSE_IMAGE=%s\nPAUSE_ARCHIVE=%s\n' "$PAUSE_REF" "$PAUSE_ARCHIVE"
    fi
  } >"$NODE/node.env.new"
  mv "$NODE/node.env.new" "$NODE/node.env"
}

if [ "$WITH_RUNTIME" = 0 ]; then
  write_env
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack buildah gcc libc6-dev)
need=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's containerd starts a system-wide daemon; the real node runs its own on private paths.
  (systemctl disable --now containerd || service containerd stop) >/dev/null 2>&1 || true
fi

if [ ! -f "$PAUSE_ARCHIVE" ]; then
  log "building the pod sandbox image $PAUSE_REF from $PAUSE_SRC"
  work="$(mktemp -d)"
  gcc -Os -static -Wall -Werror -DVERSION="v3.4-tradefleet" -o "$work/pause" "$PAUSE_SRC"
  strip "$work/pause"
  bah() { buildah --root "$CACHE/images/storage" --runroot /run/tradefleet-buildah --storage-driver overlay "$@"; }
  ctr="$(bah from scratch)"
  bah copy "$ctr" "$work/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  bah commit --rm --quiet "$ctr" "$PAUSE_REF" >/dev/null
  bah push --quiet --disable-compression "$PAUSE_REF" "oci-archive:$PAUSE_ARCHIVE.partial:$PAUSE_REF" >/dev/null
  mv "$PAUSE_ARCHIVE.partial" "$PAUSE_ARCHIVE"
  rm -rf "$work"
fi
write_env
log "node ready: $BIN/{kubelet,kubectl}, $PAUSE_REF"
