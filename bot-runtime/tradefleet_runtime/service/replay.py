"""A backtest through the live bot: the bot service itself run over recorded inputs, in replayed
time.

Run by ``python -m tradefleet_runtime replay CONFIG [--signals RECORDING] [--out FILE]``
(:func:`main`) and by tests. The bar backtester
(:mod:`tradefleet_runtime.backtest`) is fast and sweeps parameters; this replay answers what the
live bot would have done: its decision loop (:meth:`BotService.decision_step
<tradefleet_runtime.service.bot.BotService.decision_step>`) takes every tick of a replay file
(``marketData.source: replay``) in turn — order flow per tick, bars and the regime built from the
ticks, the strategy plugin, fusion with the thresholds, exits on score reversal and at the
target, the risk engine's sizing, the paper account's fills — and its SignalSources are read
from a recording (:meth:`SignalRecording.reader
<tradefleet_runtime.sources.recording.SignalRecording.reader>`) by the live reader's code, as
of each tick. Nothing waits: the account sync that the live bot runs every
:func:`~tradefleet_runtime.service.account.account_sync_interval_s` of wall time runs here every as
much replayed time.

The bot's state goes to the Redis of its config, under a key prefix of its own
(``<keyPrefix>:replay:<id>``), deleted at the end, so a replay never touches a live bot's keys.
Paper mode only: a replay never sends an order to an exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tradefleet_runtime.config import (
    MarketDataSource,
    RuntimeConfig,
    TradingMode,
    load_runtime_config,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.marketdata.feeds import MarketDataError, ReplayMarketFeed, replay_rows
from tradefleet_runtime.service.account import account_sync_interval_s
from tradefleet_runtime.service.bot import BotService
from tradefleet_runtime.service.pipeline import Decision
from tradefleet_runtime.signals.fusion import default_max_age_ms
from tradefleet_runtime.sources.recording import RecordingError, SignalRecording

LOG = logging.getLogger("tradefleet_runtime.replay")
# Decision steps in a row that read no row of a file not yet exhausted: it cannot be read.
_STALLED_STEPS = 3


class ReplayError(Exception):
    """The replay cannot run as asked; the message says what to change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayOutcome:
    """What the bot did over the replay: every decision (oldest first), the order decisions it
    did not carry out, the ticks it decided on, and its position and equity at the end."""

    decisions: tuple[Decision, ...]
    # Order decisions the bot did not carry out, and why (as its order path said).
    unsent: tuple[tuple[Decision, str], ...]
    ticks: int
    position: Mapping[str, object]
    equity: float | None

    @property
    def orders(self) -> tuple[Decision, ...]:
        """The decisions that sent an order (entries and exits)."""
        return tuple(decision for decision in self.decisions if decision.request is not None)


def _checked(*, config: RuntimeConfig, signals: SignalRecording | None) -> None:
    if config.market_data.source is not MarketDataSource.REPLAY:
        raise ReplayError(
            "marketData.source must be replay (with marketData.replayPath, a file of book "
            f"ticks), got {config.market_data.source.value}"
        )
    if config.exchange.mode is not TradingMode.PAPER:
        raise ReplayError(f"exchange.mode must be paper, got {config.exchange.mode.value}")
    replay_path = Path(config.market_data.replay_path or "")
    if not replay_path.is_file():
        # The live feed waits for a file that is not there yet; a replay has nothing to wait for.
        raise ReplayError(f"marketData.replayPath {replay_path} is not a readable file")
    try:
        next(replay_rows(replay_path), None)
    except MarketDataError as error:
        raise ReplayError(f"the replay file gives no ticks: {error}") from None
    wanted = {ref.name for ref in config.signal_sources}
    if wanted and signals is None:
        raise ReplayError(
            f"the bot reads SignalSources ({', '.join(sorted(wanted))}): give their recording "
            "(record-signals), or remove them from signalSources"
        )
    recorded = {ref.name for ref in signals.sources} if signals is not None else set()
    missing = sorted(wanted - recorded)
    if missing:
        raise ReplayError(f"the recording lacks the bot's source(s) {', '.join(missing)}")


async def replay_bot(
    *, config: RuntimeConfig, signals: SignalRecording | None, environ: Mapping[str, str]
) -> ReplayOutcome:
    """Run the bot over its replay file until the file is exhausted."""
    _checked(config=config, signals=signals)
    prefix = f"{config.redis.key_prefix}:replay:{uuid.uuid4().hex[:12]}"
    config = replace(config, redis=replace(config.redis, key_prefix=prefix))
    service = BotService(config=config, environ=environ)
    if signals is not None:
        service.market.sources = signals.reader(
            symbol=config.exchange.symbol, max_age_ms=default_max_age_ms()
        )
    try:
        return await _run(
            service=service, interval_ms=round(1000 * account_sync_interval_s(config))
        )
    finally:
        await service.lease.release()
        await service.link.close()
        await _delete_keys(service=service, prefix=prefix)
        await service.store.close()


async def _run(*, service: BotService, interval_ms: int) -> ReplayOutcome:
    if not await service.take_lease():
        raise ReplayError("could not take the replay's lease")
    # The lease is renewed in wall time, as live: a runtime whose lease lapsed sends nothing.
    renewals = asyncio.create_task(service.lease_loop(), name="lease")
    try:
        return await _replay(service=service, interval_ms=interval_ms)
    finally:
        service.stop_event.set()
        renewals.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewals


async def _replay(*, service: BotService, interval_ms: int) -> ReplayOutcome:
    await service.start()
    if not service.reconciled:
        why = service.flags.runtime_halt_reason or f"phase {service.phase}"
        raise ReplayError(f"the bot did not start: {why}")
    await service.market.sources.refresh()
    feed = service.market.feed
    assert isinstance(feed, ReplayMarketFeed), "a replay config builds a replay feed"
    decisions: list[Decision] = []
    unsent: list[tuple[Decision, str]] = []
    ticks = 0
    next_sync_ms: int | None = None
    stalled = 0
    while not feed.exhausted:
        before, side, seen = service.last_decision, service.position.side, feed.last_tick
        rows = feed.rows_read
        await service.decision_step()
        if feed.last_tick is not seen:
            ticks += 1
        # A malformed row is dropped, as live; a file that gives no rows at all ends the replay.
        stalled = stalled + 1 if feed.rows_read == rows and not feed.exhausted else 0
        if stalled >= _STALLED_STEPS:
            last = service.healing.last
            raise ReplayError(
                f"the replay file gives no ticks: {last.message if last else 'no reason given'}"
            )
        decision = service.last_decision
        if decision is not None and decision is not before:
            decisions.append(decision)
            # A paper order fills at once: an order decision that left the position as it was
            # was not carried out, and the order path says why.
            if decision.request is not None and service.position.side is side:
                unsent.append((decision, service.orders.entry_refusal() or "not filled"))
        now_ms = feed.now_ms()
        if next_sync_ms is None:
            next_sync_ms = now_ms + interval_ms
        elif now_ms >= next_sync_ms:
            await service.account_step()
            next_sync_ms = now_ms + interval_ms
    await service.account_step()
    LOG.info("replayed %d ticks: %d decisions", ticks, len(decisions))
    return ReplayOutcome(
        decisions=tuple(decisions),
        unsent=tuple(unsent),
        ticks=ticks,
        position=service.position.to_dict(),
        equity=service.equity(),
    )


async def _delete_keys(*, service: BotService, prefix: str) -> None:
    redis = service.store.redis
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=500)]
    if keys:
        await redis.delete(*keys)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tradefleet_runtime replay",
        description="Run a bot's live decision loop over a replay file of book ticks and a "
        "recording of its SignalSources, in replayed time (paper mode).",
    )
    parser.add_argument("config", type=Path, help="the bot's RuntimeConfig (JSON)")
    parser.add_argument(
        "--signals", type=Path, help="a recording of the bot's SignalSources (record-signals)"
    )
    parser.add_argument(
        "--out", type=Path, help="write every decision here, one JSON object per line"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """The ``replay`` command: a summary on stdout; errors in one line on stderr, exit 2."""
    arguments = _parser().parse_args(argv)
    try:
        config = load_runtime_config(arguments.config)
        signals = SignalRecording.load(arguments.signals) if arguments.signals else None
        outcome = asyncio.run(replay_bot(config=config, signals=signals, environ=os.environ))
    except (ConfigError, RecordingError, ReplayError, OSError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    unsent = {id(decision): why for decision, why in outcome.unsent}
    if arguments.out is not None:
        arguments.out.write_text(
            "".join(
                json.dumps({**d.to_dict(), "notSent": unsent.get(id(d))}, sort_keys=True) + "\n"
                for d in outcome.decisions
            )
        )
    entries = sum(1 for d in outcome.orders if d.leg == "entry")
    print(
        f"{outcome.ticks} ticks, {len(outcome.decisions)} decisions: {entries} entries, "
        f"{len(outcome.orders) - entries} exits, {len(unsent)} not sent; position "
        f"{outcome.position.get('side')} {outcome.position.get('size')}; equity {outcome.equity}"
    )
    for decision, why in outcome.unsent:
        print(f"  not sent at {decision.at_ms}: {decision.action.value}: {why}")
    return 0
