"""``python -m tradefleet_kubectl``: the plugin without its console script (same as ``kubectl-tradefleet``)."""

from __future__ import annotations

from tradefleet_kubectl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
