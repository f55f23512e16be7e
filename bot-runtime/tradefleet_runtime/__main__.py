"""Entry point of the runtime image: ``python -m tradefleet_runtime [signal-source | optimise]``.

Without arguments it runs a bot (:class:`~tradefleet_runtime.service.bot.BotService`); with
``signal-source`` a SignalSource workload (:class:`~tradefleet_runtime.sources.service.SourceService`);
with ``optimise`` the one-shot optimisation Job (:mod:`tradefleet_runtime.jobs.optimise`).
Both read their configuration from the JSON file named by ``TRADEFLEET_CONFIG`` and listen on
``TRADEFLEET_LISTEN_HOST`` (the pod IP). A configuration or start-up error ends the process with
exit code 2 and one log line saying why, so the operator's rollback sees an unhealthy revision.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from tradefleet_runtime.config import (
    ConfigError,
    config_path_from_env,
    load_runtime_config,
    load_source_config,
)
from tradefleet_runtime.service.api import build_bot_app
from tradefleet_runtime.service.bot import BotService, install_stop_signals, listen_host
from tradefleet_runtime.service.build import StartupError
from tradefleet_runtime.service.http import bind_socket, serve_app
from tradefleet_runtime.sources.service import SourceService, build_source_app

LOG = logging.getLogger("tradefleet_runtime")
EXIT_BAD_CONFIG = 2
USAGE = "usage: python -m tradefleet_runtime [signal-source | optimise]"


async def _run_bot() -> None:

    path = config_path_from_env()
    config = load_runtime_config(path)
    environ = dict(os.environ)
    service = BotService(config=config, environ=environ, config_path=path)
    install_stop_signals(service.stop_event)
    sock = bind_socket(host=listen_host(environ), port=config.api.port)
    app = build_bot_app(service)
    LOG.info(
        "bot %s/%s starting: %s %s %s, config %s",
        config.namespace,
        config.bot_name,
        config.exchange.exchange,
        config.exchange.symbol,
        config.exchange.mode.value,
        config.config_hash,
    )
    await service.run(serve=lambda: serve_app(app=app, sock=sock, stop=service.stop_event))


async def _run_source() -> None:

    config = load_source_config(config_path_from_env())
    environ = dict(os.environ)
    service = SourceService(config=config)
    install_stop_signals(service.stop_event)
    sock = bind_socket(host=listen_host(environ), port=config.port)
    app = build_source_app(service)
    LOG.info("signal source %s/%s (%s) starting", config.namespace, config.name, config.kind)
    await service.run(serve=lambda: serve_app(app=app, sock=sock, stop=service.stop_event))


async def _run_optimisation() -> None:
    # Imported here: the research stack (numba, optuna) is needed by the Job only.
    from tradefleet_runtime.jobs.optimise import run_job  # noqa: PLC0415

    await run_job(config=load_runtime_config(config_path_from_env()))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("TRADEFLEET_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args not in ([], ["signal-source"], ["optimise"]):
        print(USAGE, file=sys.stderr)
        return EXIT_BAD_CONFIG

    try:
        if args == ["optimise"]:
            asyncio.run(_run_optimisation())
        else:
            asyncio.run(_run_source() if args else _run_bot())
    except (ConfigError, StartupError, OSError) as error:
        LOG.critical("cannot start: %s", error)
        return EXIT_BAD_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
