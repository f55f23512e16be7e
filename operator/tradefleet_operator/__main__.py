"""``python -m tradefleet_operator`` and the ``tradefleet-operator`` command: the operator
image's entry point; runs :func:`tradefleet_operator.cli.main`.

Kopf imports the official ``kubernetes`` client's generated models whenever that package can be
imported, only to recognise that library's objects handed to its helpers. The operator hands it
none and reads its access in a child process (:mod:`tradefleet_operator.access`), and those
models would cost the process about 11 MB of memory. A ``None`` in ``sys.modules`` makes the
import fail as if the package were not installed; it is set here, in the operator's own process
only. The garbage collector's thresholds are set here too, for the operator's process only
(``GC_THRESHOLDS`` says why).
"""

from __future__ import annotations

import gc
import sys

# Python collects its youngest generation after every 700 net allocations. In a burst of watch
# events, a reconcile pass lasts about 0.4 s and holds hundreds of objects all along (a decoded
# TradingBot alone is about 160 dicts and lists): at that pace they outlived two collections and
# reached the oldest generation, whose collections scan the whole heap. At 1,000 new bots that
# was 28-30 full collections of about 0.25 s each, a fifth of the operator's CPU
# (bench_operator_scale.py). After 10,000 allocations most of them die young: one full
# collection, and the collector's CPU for the burst went from 9.6-11.6 s to 2.8 s, at the same
# peak RSS.
GC_THRESHOLDS = (10_000, 10, 10)


def main() -> int:
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    gc.set_threshold(*GC_THRESHOLDS)
    from tradefleet_operator.cli import main as run  # noqa: PLC0415 - Kopf only after the line above

    return run()


if __name__ == "__main__":
    sys.exit(main())
