#!/usr/bin/env bash
# The test command: set-up (cached), static checks, then the whole test suite against real
# components (kube-apiserver + etcd + controller-manager + scheduler, redis-server, local exchange).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -k fusion`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO"

echo "== static checks"
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
