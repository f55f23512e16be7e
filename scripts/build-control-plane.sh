#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler from Debian's
# `kubernetes` source package (offline: the tree vendors every Go dependency) and
# caches them outside the repository. Called by scripts/bootstrap.sh; safe to re-run:
# a complete cache is reused and nothing is rebuilt.
set -euo pipefail

CACHE="${TRADEFLEET_CACHE:-$HOME/.cache/tradefleet}"
K8S_VERSION_GLOB="kubernetes_1.20*"
BIN_DIR="$CACHE/control-plane/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
# Bump when the recipe below changes, so cached binaries from an older recipe are rebuilt.
RECIPE="2: reflect2 1.0.2 + json-iterator 1.1.12 from Debian"

have_all() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN_DIR/$b" ] || return 1; done
  [ "$(cat "$BIN_DIR/.recipe" 2>/dev/null)" = "$RECIPE" ]
}

if have_all; then
  echo "control plane: cached in $BIN_DIR"
  exit 0
fi

log() { printf '[build-control-plane] %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
SRC_LIST=/etc/apt/sources.list.d/tradefleet-deb-src.sources
if [ ! -f "$SRC_LIST" ]; then
  log "adding deb-src entries ($SRC_LIST)"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$SRC_LIST"
  apt-get update -qq
fi
apt-get install -y -qq golang-go rsync jq golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev dpkg-dev >/dev/null

WORK="$CACHE/control-plane/src"
mkdir -p "$WORK"
cd "$WORK"
if ! ls $K8S_VERSION_GLOB.orig.tar.gz >/dev/null 2>&1; then
  log "downloading Debian's kubernetes source package"
  apt-get source --download-only kubernetes >/dev/null
fi
ORIG=$(ls $K8S_VERSION_GLOB.orig.tar.gz | head -n1)
TREE="$WORK/tree"
if [ ! -d "$TREE/cmd/kube-apiserver" ]; then
  log "unpacking $ORIG"
  rm -rf "$TREE" && mkdir -p "$TREE"
  tar -xzf "$ORIG" -C "$TREE" --strip-components=1
fi

# The vendored reflect2 1.0.1 segfaults under Go >= 1.18 on the first CRD write; Debian's 1.0.2
# does not. json-iterator must move with it: 1.1.10 on reflect2 1.0.2 decodes "" as null, so any
# empty string in a custom resource is rejected. Debian's 1.1.12 is the matching pair.
replace_vendored() {
  local module="$1" debian="/usr/share/gocode/src/$1" target="$TREE/vendor/$1"
  if [ ! -f "$target/.tradefleet-from-debian" ]; then
    log "replacing vendored $module with Debian's copy"
    rm -rf "$target"
    cp -r "$debian" "$target"
    rm -f "$target/go.mod" "$target/go.sum"
    touch "$target/.tradefleet-from-debian"
  fi
}
replace_vendored github.com/modern-go/reflect2
replace_vendored github.com/json-iterator/go

cd "$TREE"
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "building ${BINARIES[*]} (about 6 minutes on 2 cores the first time)"
(
  cd .go/src/k8s.io/kubernetes
  export GOPATH="$TREE/.go" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$CACHE/control-plane/gocache"
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >"$CACHE/control-plane/build.log" 2>&1 \
    || { tail -n 40 "$CACHE/control-plane/build.log"; exit 1; }
)
mkdir -p "$BIN_DIR"
for b in "${BINARIES[@]}"; do
  install -m 0755 "$TREE/_output/local/bin/linux/amd64/$b" "$BIN_DIR/$b"
done
printf '%s' "$RECIPE" > "$BIN_DIR/.recipe"
log "built into $BIN_DIR"
