"""The read-only facade of a running bot that its HTTP API is built on.

Built by the entry point (:mod:`tradefleet_runtime.__main__`) over the
:class:`~tradefleet_runtime.service.bot.BotService` and passed to
:func:`~tradefleet_runtime.service.api.build_bot_app`. It implements every view of
:mod:`tradefleet_runtime.service.api.view`: this is the one place that knows which part of the
service keeps what the API shows, so the routers never reach into the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.persistence.records import BalanceRecord
from tradefleet_runtime.persistence.store import Flags
from tradefleet_runtime.risk import PortfolioState
from tradefleet_runtime.service.bot import BotService
from tradefleet_runtime.service.pipeline import Decision
from tradefleet_runtime.signals.ofi import OfiConfig, OfiSignal
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeModelStatus, RegimeState
from tradefleet_runtime.sources.reader import SourceSnapshot
from tradefleet_runtime.strategies.base import StrategySignal


@dataclass(frozen=True, kw_only=True)
class BotReadView:
    """What the API reads of ``service``, read at the time of each request."""

    service: BotService

    # ------------------------------------------------------ the service's own

    @property
    def symbol(self) -> str:
        return self.service.symbol

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.service.secrets

    @property
    def config(self) -> RuntimeConfig:
        return self.service.config

    @property
    def refused_config(self) -> dict[str, object] | None:
        return self.service.refused_config

    @property
    def heartbeat(self) -> float:
        return self.service.heartbeat

    @property
    def heartbeat_timeout_s(self) -> float:
        return self.service.config.heartbeat_timeout_s

    @property
    def reconciled(self) -> bool:
        return self.service.reconciled

    @property
    def market_data_flowing(self) -> bool:
        return self.service.market_data_flowing

    @property
    def phase(self) -> str:
        return self.service.phase

    @property
    def poll_slowdown(self) -> float:
        return self.service.poll_slowdown

    @property
    def store_healthy(self) -> bool:
        return self.service.store_healthy

    @property
    def flags(self) -> Flags:
        return self.service.flags

    @property
    def control_token(self) -> str:
        return self.service.control_token

    @property
    def last_decision(self) -> Decision | None:
        return self.service.last_decision

    def status(self) -> dict[str, object]:
        return self.service.status()

    async def command(self, name: str) -> dict[str, object]:
        return await self.service.command(name)

    # ---------------------------------------------------------------- account

    @property
    def starting_equity(self) -> float | None:
        return self.service.starting_equity

    @property
    def portfolio(self) -> PortfolioState | None:
        return self.service.portfolio

    @property
    def balance(self) -> BalanceRecord | None:
        return self.service.account.balance

    def equity(self) -> float | None:
        return self.service.equity()

    # ------------------------------------------------ market, signals, fusion

    @property
    def regime(self) -> RegimeState | None:
        return self.service.market.bars.regime

    @property
    def regime_model(self) -> RegimeModelStatus:
        return self.service.market.bars.detector.status

    @property
    def regime_problem(self) -> str:
        return self.service.market.bars.problem

    @property
    def strategy_in_fusion(self) -> bool:
        return self.service.market.bars.strategy is not None

    @property
    def strategy_signal(self) -> StrategySignal | None:
        return self.service.market.bars.strategy_signal

    @property
    def fusion_weights(self) -> Mapping[str, float]:
        return self.service.fusion.config.weights

    @property
    def drop_counts(self) -> Mapping[str, int]:
        return self.service.market.drop_counts

    @property
    def recent_drops(self) -> Sequence[dict[str, object]]:
        return tuple(self.service.market.recent_drops)

    @property
    def last_ofi(self) -> OfiSignal | None:
        return self.service.pipeline.last_ofi

    @property
    def ofi_config(self) -> OfiConfig:
        return self.service.pipeline.ofi_config

    def source_status(self, *, now_ms: int) -> list[dict[str, object]]:
        return self.service.market.sources.status(now_ms=now_ms)

    def source_snapshots(self, *, kind: str) -> list[SourceSnapshot]:
        return self.service.market.sources.latest(kind=kind)

    def source_readings(self, *, now_ms: int) -> list[SignalReading]:
        return self.service.market.sources.readings(now_ms=now_ms)

    # ---------------------------------------- metrics, history, health, events

    def metrics_text(self) -> str:
        return self.service.metrics.render().decode()

    async def history(self, *, name: str, limit: int) -> list[Mapping[str, object]]:
        return await self.service.store.history(name=name, limit=limit)

    def health_report(self, *, extra: dict[str, object]) -> dict[str, object]:
        return self.service.healing.report(extra=extra)

    def subscribe(self) -> contextlib.AbstractContextManager[asyncio.Queue[dict[str, object]]]:
        return self.service.events.subscribe()
