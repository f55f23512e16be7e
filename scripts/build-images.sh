#!/usr/bin/env bash
# Builds the Tradefleet images (the Dockerfile's operator, runtime and research targets) on a
# machine without Docker, offline apart from Debian's and PyPI's package servers:
#   1. a base root filesystem made by debootstrap (Debian bookworm, minbase, Python 3.11 from
#      Debian as `python`), imported into buildah as localhost/tradefleet/base:<hash>;
#   2. `buildah bud --build-arg PYTHON_IMAGE=<that base> --target <t>` on the repository's
#      Dockerfile (the same Dockerfile builds with Docker from python:3.11-slim-bookworm);
#   3. each image saved as an OCI archive that the real node imports into containerd.
# Everything is cached by content hash under $TRADEFLEET_CACHE/images: the base by its recipe, the
# images by the Dockerfile, pyproject.toml, scripts/requirements.py and the operator's and runtime's
# sources; a second run with nothing changed does nothing. Writes $TRADEFLEET_CACHE/images/images.env
# (IMAGE_<TARGET>=ref, ARCHIVE_<TARGET>=path) for devtools/tradefleet_devtools/realnode.
# Called by scripts/bootstrap.sh when a real node is wanted (TRADEFLEET_NODE=auto|real); may be run
# alone: `bash scripts/build-images.sh`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TRADEFLEET_CACHE:-$HOME/.cache/tradefleet}"
OUT="$CACHE/images"
STORAGE="$OUT/storage"
RUNROOT="/run/tradefleet-buildah"
TARGETS=(operator runtime research)
declare -A NAMES=([operator]=operator [runtime]=bot-runtime [research]=research)
# The base image's recipe: a change here makes a new base (and so new images).
SUITE=bookworm
BASE_PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"
BASE_RECIPE="1: debootstrap --variant=minbase --include=$BASE_PACKAGES $SUITE"

log() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT" "$RUNROOT"
# One build at a time on a machine (several shells may bootstrap at once); the others wait.
exec 9>"$OUT/.lock"
flock 9
export DEBIAN_FRONTEND=noninteractive
need=()
for p in buildah debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

bah() { buildah --root "$STORAGE" --runroot "$RUNROOT" --storage-driver overlay "$@"; }
have_image() { bah images --quiet "$1" >/dev/null 2>&1; }

# -- 1. the base ------------------------------------------------------------------------------------
BASE_KEY="$(printf '%s' "$BASE_RECIPE" | sha256sum | cut -c1-12)"
BASE_REF="localhost/tradefleet/base:$BASE_KEY"
if ! have_image "$BASE_REF"; then
  mirror="$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$OUT/base-rootfs"
  rm -rf "$rootfs"
  log "debootstrap $SUITE from $mirror (first run only, about 3 minutes)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$mirror" \
    >"$OUT/debootstrap.log" 2>&1 || { tail -n 30 "$OUT/debootstrap.log"; die "debootstrap failed"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/*
  log "importing the root filesystem as $BASE_REF"
  ctr="$(bah from scratch)"
  mnt="$(bah mount "$ctr")"
  tar -C "$rootfs" -cf - . | tar -C "$mnt" -xf -
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd python3 \
    --label "io.tradefleet.base-recipe=$BASE_RECIPE" "$ctr"
  bah commit --rm --quiet "$ctr" "$BASE_REF" >/dev/null
  rm -rf "$rootfs"
fi

# -- 2. the images ----------------------------------------------------------------------------------
# Build-time only (never in an image): pip inside RUN trusts what the host's pip trusts, so a
# TLS-intercepting proxy's CA in the host's bundle works in the build as it does on the host.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
BUILD_MOUNTS=()
if [ -f "$HOST_CA" ]; then
  {
    printf '[global]\ncert = /etc/ssl/certs/host-ca-certificates.crt\ntimeout = 180\n'
    index="$(pip3 config get global.index-url 2>/dev/null || true)"
    [ -n "$index" ] && printf 'index-url = %s\n' "$index"
  } >"$OUT/pip.conf"
  BUILD_MOUNTS=(--volume "$HOST_CA:/etc/ssl/certs/host-ca-certificates.crt:ro"
    --volume "$OUT/pip.conf:/etc/pip.conf:ro")
fi

SOURCES_KEY="$(
  cd "$REPO"
  {
    printf '%s\n' "$BASE_KEY"
    find Dockerfile .dockerignore pyproject.toml README.md scripts/requirements.py operator bot-runtime \
      -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)"
# A failed build leaves no images.env: the real node then reports its images missing.
rm -f "$OUT/images.env"
: >"$OUT/images.env.new"
for target in "${TARGETS[@]}"; do
  ref="localhost/tradefleet/${NAMES[$target]}:$SOURCES_KEY"
  archive="$OUT/${NAMES[$target]}-$SOURCES_KEY.oci.tar"
  if ! have_image "$ref"; then
    log "building $ref (Dockerfile target $target)"
    start=$SECONDS
    bah bud --layers --network host --quiet "${BUILD_MOUNTS[@]}" \
      --build-arg "PYTHON_IMAGE=$BASE_REF" --target "$target" --tag "$ref" \
      --file "$REPO/Dockerfile" "$REPO" >"$OUT/build-$target.log" 2>&1 \
      || { tail -n 40 "$OUT/build-$target.log"; die "building the $target image failed"; }
    log "built $ref in $((SECONDS - start)) s"
  fi
  if [ ! -f "$archive" ]; then
    rm -f "$OUT/${NAMES[$target]}"-*.oci.tar
    bah push --quiet --disable-compression "$ref" "oci-archive:$archive.partial:$ref" >/dev/null
    mv "$archive.partial" "$archive"
  fi
  upper="$(printf '%s' "$target" | tr '[:lower:]' '[:upper:]')"
  printf 'IMAGE_%s=%s\nARCHIVE_%s=%s\n' "$upper" "$ref" "$upper" "$archive" >>"$OUT/images.env.new"
done
mv "$OUT/images.env.new" "$OUT/images.env"

# Older builds of the same images: untag them and drop the layers nothing uses any more.
for target in "${TARGETS[@]}"; do
  repo="localhost/tradefleet/${NAMES[$target]}"
  stale="$(bah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -x "$repo:[0-9a-f]*" \
    | grep -vx "$repo:$SOURCES_KEY" || true)"
  for old in $stale; do bah rmi "$old" >/dev/null 2>&1 || true; done
done
log "images ready ($OUT/images.env): $(cut -d= -f2 "$OUT/images.env" | grep '^localhost' | tr '\n' ' ')"
