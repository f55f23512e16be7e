#!/usr/bin/env bash
# The test command: set-up (cached), static checks, then the whole test suite against real
# components (kube-apiserver + etcd + controller-manager + scheduler, redis-server, local exchange,
# and for the e2e suite a real kubelet with containerd running the images built from the Dockerfile
# where this machine can: TRADEFLEET_NODE=auto|real|dev, see docs/development.md).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -k fusion`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"

# The real node's pieces and the images (cached by content hash): before the tests, so a first
# build is not counted against a test's timeout. TRADEFLEET_NODE=dev skips them; with auto a
# failure here is reported and the tests run on the dev node agent.
if [ "${TRADEFLEET_NODE:-auto}" != dev ]; then
  if ! { bash "$REPO/scripts/build-node.sh" --runtime && bash "$REPO/scripts/build-images.sh"; }; then
    [ "${TRADEFLEET_NODE:-auto}" = real ] && exit 1
    echo "the real node's pieces could not be built (see above): pods run on the dev node agent" >&2
  fi
fi

echo "== static checks"
# pytest imports test modules by basename (rootdir-relative, no packages): two test files with
# one name make collection fail, so the name clash is reported here with both paths.
dups=$(find tests -name 'test_*.py' -printf '%f\n' | sort | uniq -d)
if [ -n "$dups" ]; then
  for name in $dups; do find tests -name "$name"; done >&2
  echo "test files share a name (above): give each a unique basename" >&2
  exit 1
fi
ruff check .
ruff format --check .
mypy
lint-imports --no-cache

echo "== tests"
set +e
python -m pytest "${@:-tests}"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing, a run that tests nothing must not pass" >&2
  exit 1
fi
exit "$rc"
