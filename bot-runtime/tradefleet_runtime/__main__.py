"""Entry point of the runtime image:
``python -m tradefleet_runtime [signal-source | market-data | optimize | replay ...]``.

Without arguments it runs a bot (:class:`~tradefleet_runtime.service.bot.BotService`); with
``signal-source`` a SignalSource workload (:class:`~tradefleet_runtime.sources.service.SourceService`);
with ``market-data`` an exchange's market-data publisher
(:class:`~tradefleet_runtime.publisher.service.MarketDataPublisher`); with ``optimize`` the
one-shot optimization Job (:mod:`tradefleet_runtime.jobs.optimize`); with ``replay`` a backtest
through the live bot (:mod:`tradefleet_runtime.service.replay`, its own arguments).
The others read their configuration from the JSON file named by ``TRADEFLEET_CONFIG``; the bot,
the SignalSource and the publisher listen on ``TRADEFLEET_LISTEN_HOST`` (the pod IP). A configuration or start-up error ends the process with
exit code 2 and one log line saying why, so the operator's rollback sees an unhealthy revision;
any cause that ends the process (exit code 2 or 1) is also written to the container's
termination message file (``TRADEFLEET_TERMINATION_LOG``, default ``/dev/termination-log``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from tradefleet_runtime.config import (
    config_path_from_env,
    load_runtime_config,
    load_source_config,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.persistence.store import RedisLogin
from tradefleet_runtime.publisher.config import load_market_data_config
from tradefleet_runtime.publisher.service import MarketDataPublisher, build_publisher_app
from tradefleet_runtime.service.api import build_bot_app
from tradefleet_runtime.service.bot import BotService, install_stop_signals, listen_host
from tradefleet_runtime.service.build import StartupError
from tradefleet_runtime.service.http import bind_socket, serve_app
from tradefleet_runtime.service.read_view import BotReadView
from tradefleet_runtime.service.replay import main as replay_main
from tradefleet_runtime.service.supervisor import write_termination_message
from tradefleet_runtime.sources.service import SourceService, build_source_app

LOG = logging.getLogger("tradefleet_runtime")
EXIT_BAD_CONFIG = 2
EXIT_FAILED = 1
USAGE = "usage: python -m tradefleet_runtime [signal-source | market-data | optimize | replay CONFIG ...]"


async def _run_bot() -> str | None:
    """Run the bot until stopped; the reason it had to end, if it did not stop on request."""
    path = config_path_from_env()
    config = load_runtime_config(path)
    environ = dict(os.environ)
    service = BotService(config=config, environ=environ, config_path=path)
    install_stop_signals(service.stop_event)
    sock = bind_socket(host=listen_host(environ), port=config.api.port)
    app = build_bot_app(BotReadView(service=service))
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
    return service.exit_reason


async def _run_source() -> None:

    config = load_source_config(config_path_from_env())
    environ = dict(os.environ)
    service = SourceService(config=config, login=RedisLogin.from_environ(environ))
    install_stop_signals(service.stop_event)
    sock = bind_socket(host=listen_host(environ), port=config.port)
    app = build_source_app(service)
    LOG.info("signal source %s/%s (%s) starting", config.namespace, config.name, config.kind)
    await service.run(serve=lambda: serve_app(app=app, sock=sock, stop=service.stop_event))


async def _run_market_data() -> None:
    config = load_market_data_config(config_path_from_env())
    environ = dict(os.environ)
    publisher = MarketDataPublisher.build(config=config, login=RedisLogin.from_environ(environ))
    install_stop_signals(publisher.stop_event)
    sock = bind_socket(host=listen_host(environ), port=config.port)
    app = build_publisher_app(publisher)
    LOG.info(
        "market-data publisher of %s %s starting: %s under %s, config %s",
        config.exchange.exchange,
        config.exchange.market.value,
        ", ".join(config.symbols),
        config.redis.key_prefix,
        config.config_hash,
    )
    await publisher.run(serve=lambda: serve_app(app=app, sock=sock, stop=publisher.stop_event))


async def _run_optimization() -> None:
    # Imported here: the research stack (numba, optuna) is needed by the Job only.
    from tradefleet_runtime.jobs.optimize import run_job  # noqa: PLC0415

    await run_job(config=load_runtime_config(config_path_from_env()))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("TRADEFLEET_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args[:1] == ["replay"]:
        return replay_main(args[1:])
    if args not in ([], ["signal-source"], ["market-data"], ["optimize"]):
        print(USAGE, file=sys.stderr)
        return EXIT_BAD_CONFIG

    try:
        if args == ["optimize"]:
            asyncio.run(_run_optimization())
        elif args == ["market-data"]:
            asyncio.run(_run_market_data())
        elif args:
            asyncio.run(_run_source())
        else:
            reason = asyncio.run(_run_bot())
            if reason is not None:
                return EXIT_FAILED
    except (ConfigError, StartupError, OSError) as error:
        LOG.critical("cannot start: %s", error)
        write_termination_message(f"cannot start: {error}", environ=os.environ)
        return EXIT_BAD_CONFIG
    except Exception as error:
        # Whatever it is, the pod's termination message must say it, not only the log.
        LOG.exception("the runtime failed")
        write_termination_message(
            f"the runtime failed: {type(error).__name__}: {error}", environ=os.environ
        )
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
