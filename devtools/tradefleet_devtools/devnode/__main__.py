"""``python -m tradefleet_devtools.devnode``: run the dev node agent (dev/test tooling only).

Used by developers, the local demo and the launcher the test fixtures use. Flags: see ``--help``
and docs/dev-node-agent.md.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from tradefleet_devtools.devnode.agent import DevNodeAgent
from tradefleet_devtools.devnode.errors import AgentConfigError, KubeApiError
from tradefleet_devtools.devnode.settings import AgentSettings


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings, level = AgentSettings.from_argv(sys.argv[1:] if argv is None else argv)
    except AgentConfigError as exc:
        print(f"dev node agent: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        DevNodeAgent(settings=settings).run()
    except (AgentConfigError, KubeApiError) as exc:
        logging.getLogger("tradefleet_devtools.devnode").error("dev node agent cannot run: %s", exc)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
