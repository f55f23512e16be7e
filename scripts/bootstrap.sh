#!/usr/bin/env bash
# One-time (cached) set-up of everything the demo and the tests need on a Debian
# machine without Docker: apt packages, a virtualenv with the project's
# dependencies, and the Kubernetes control plane, kubelet and kubectl built from Debian's
# sources.
# Sourced by scripts/demo.sh and scripts/test.sh; exports TRADEFLEET_PYTHON,
# PYTHONPATH, TRADEFLEET_CONTROL_PLANE_BIN and PATH (with kubectl first).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TRADEFLEET_CACHE="${TRADEFLEET_CACHE:-$HOME/.cache/tradefleet}"
mkdir -p "$TRADEFLEET_CACHE"

log() { printf '[bootstrap] %s\n' "$*"; }

APT_PACKAGES=(etcd-server redis-server iproute2 prometheus curl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged services are started by our fixtures on private ports, never system-wide.
  for svc in etcd redis-server prometheus; do
    (systemctl disable --now "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
  done
fi

# Dependencies go into a virtualenv keyed by the dependency list, so a fresh clone
# with the same pyproject.toml reuses it; the project itself runs from the source tree.
PYTHON_BASE="${TRADEFLEET_BASE_PYTHON:-python3}"
REQS="$("$PYTHON_BASE" "$REPO/scripts/requirements.py" dev)"
KEY="$(printf '%s\n%s\n' "$REQS" "$("$PYTHON_BASE" -V)" | sha256sum | cut -c1-16)"
VENV="$TRADEFLEET_CACHE/venv-$KEY"
if [ ! -f "$VENV/.complete" ]; then
  log "creating virtualenv $VENV (first run only)"
  rm -rf "$VENV"
  "$PYTHON_BASE" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  printf '%s\n' "$REQS" > "$VENV/requirements.txt"
  "$VENV/bin/pip" install -q -r "$VENV/requirements.txt"
  # Helm's Go library, bundled as a shared object; its metadata asks for 3.12 but it runs on 3.11.
  "$VENV/bin/pip" install -q --ignore-requires-python "helm-sdkpy==0.1.32"
  # The benchmark peer for the grid backtester (dev only).
  "$VENV/bin/pip" install -q "vectorbt>=1.2,<2"
  touch "$VENV/.complete"
fi

bash "$REPO/scripts/build-control-plane.sh"

# kubelet and kubectl from the same source tree (kubectl is what the demo and the docs use). The
# real node's runtime pieces and the images are built when a real node starts
# (devtools/tradefleet_devtools/realnode runs scripts/build-node.sh --runtime and
# scripts/build-images.sh, both cached by content hash), so a shell's set-up stays fast.
bash "$REPO/scripts/build-node.sh"

export TRADEFLEET_PYTHON="$VENV/bin/python"
export TRADEFLEET_CONTROL_PLANE_BIN="$TRADEFLEET_CACHE/control-plane/bin"
export PYTHONPATH="$REPO/operator:$REPO/bot-runtime:$REPO/devtools${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$TRADEFLEET_CACHE/node/bin:$VENV/bin:$PATH"
