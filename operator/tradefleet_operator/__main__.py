"""``python -m tradefleet_operator`` and the ``tradefleet-operator`` command: the operator
image's entry point; runs :func:`tradefleet_operator.cli.main`.

Kopf imports the official ``kubernetes`` client's generated models whenever that package can be
imported, only to recognise that library's objects handed to its helpers. The operator hands it
none and reads its access in a child process (:mod:`tradefleet_operator.access`), and those
models would cost the process about 11 MB of memory. A ``None`` in ``sys.modules`` makes the
import fail as if the package were not installed; it is set here, in the operator's own process
only.
"""

from __future__ import annotations

import sys


def main() -> int:
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    from tradefleet_operator.cli import main as run  # noqa: PLC0415 - Kopf only after the line above

    return run()


if __name__ == "__main__":
    sys.exit(main())
