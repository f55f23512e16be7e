"""What the HTTP API reads of a running bot: one narrow read view per router.

Each router of :mod:`tradefleet_runtime.service.api` is built over the smallest of these
protocols it needs, so an endpoint can only read what its view names. They are implemented by
:class:`~tradefleet_runtime.service.read_view.BotReadView`, the read-only facade of a
:class:`~tradefleet_runtime.service.bot.BotService`; a test may pass any object that has the
members.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.persistence.records import BalanceRecord
from tradefleet_runtime.persistence.store import Flags
from tradefleet_runtime.risk import PortfolioState
from tradefleet_runtime.service.pipeline import Decision
from tradefleet_runtime.signals.ofi import OfiConfig, OfiSignal
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeModelStatus, RegimeState
from tradefleet_runtime.sources.reader import SourceSnapshot
from tradefleet_runtime.strategies.base import StrategySignal


class ReplyView(Protocol):
    """What every reply needs: the secrets it must never show, and the bot's one symbol."""

    @property
    def secrets(self) -> tuple[str, ...]: ...

    @property
    def symbol(self) -> str: ...


class ProbeView(ReplyView, Protocol):
    """``/healthz``, ``/readyz`` and ``/metrics``."""

    @property
    def heartbeat(self) -> float: ...

    @property
    def heartbeat_timeout_s(self) -> float: ...

    @property
    def reconciled(self) -> bool: ...

    @property
    def market_data_flowing(self) -> bool: ...

    @property
    def phase(self) -> str: ...

    def metrics_text(self) -> str: ...


class SourcesView(Protocol):
    """The bot's SignalSources as the API shows them."""

    def source_status(self, *, now_ms: int) -> list[dict[str, object]]: ...

    def source_snapshots(self, *, kind: str) -> list[SourceSnapshot]: ...

    def source_readings(self, *, now_ms: int) -> list[SignalReading]: ...


class StatusView(ReplyView, SourcesView, Protocol):
    """``/status``, ``/signals``, ``/equity`` and ``/strategy``."""

    @property
    def config(self) -> RuntimeConfig: ...

    @property
    def refused_config(self) -> dict[str, object] | None: ...

    @property
    def last_decision(self) -> Decision | None: ...

    @property
    def last_ofi(self) -> OfiSignal | None: ...

    @property
    def regime(self) -> RegimeState | None: ...

    @property
    def drop_counts(self) -> Mapping[str, int]: ...

    @property
    def recent_drops(self) -> Sequence[dict[str, object]]: ...

    @property
    def starting_equity(self) -> float | None: ...

    @property
    def portfolio(self) -> PortfolioState | None: ...

    @property
    def balance(self) -> BalanceRecord | None: ...

    @property
    def strategy_in_fusion(self) -> bool: ...

    @property
    def strategy_signal(self) -> StrategySignal | None: ...

    @property
    def fusion_weights(self) -> Mapping[str, float]: ...

    def status(self) -> dict[str, object]: ...

    def equity(self) -> float | None: ...

    async def history(self, *, name: str, limit: int) -> list[Mapping[str, object]]: ...


class AdvancedView(ReplyView, SourcesView, Protocol):
    """``/api/advanced/*`` but the health report: regime, OFI, sources and fusion."""

    @property
    def regime(self) -> RegimeState | None: ...

    @property
    def regime_model(self) -> RegimeModelStatus: ...

    @property
    def regime_problem(self) -> str: ...

    @property
    def last_ofi(self) -> OfiSignal | None: ...

    @property
    def ofi_config(self) -> OfiConfig: ...

    @property
    def drop_counts(self) -> Mapping[str, int]: ...

    @property
    def last_decision(self) -> Decision | None: ...


class HealingView(ReplyView, Protocol):
    """``/api/advanced/self-healing/health``."""

    @property
    def phase(self) -> str: ...

    @property
    def config(self) -> RuntimeConfig: ...

    @property
    def refused_config(self) -> dict[str, object] | None: ...

    @property
    def poll_slowdown(self) -> float: ...

    @property
    def drop_counts(self) -> Mapping[str, int]: ...

    @property
    def store_healthy(self) -> bool: ...

    @property
    def flags(self) -> Flags: ...

    def health_report(self, *, extra: dict[str, object]) -> dict[str, object]: ...


class ControlView(ReplyView, Protocol):
    """``POST /control/<command>`` and the ``/ws/stream`` WebSocket."""

    @property
    def control_token(self) -> str: ...

    @property
    def heartbeat(self) -> float: ...

    @property
    def phase(self) -> str: ...

    def status(self) -> dict[str, object]: ...

    async def command(self, name: str) -> dict[str, object]: ...

    def subscribe(self) -> contextlib.AbstractContextManager[asyncio.Queue[dict[str, object]]]: ...


class BotView(StatusView, AdvancedView, HealingView, ControlView, ProbeView, Protocol):
    """Everything the API reads: what :func:`~tradefleet_runtime.service.api.build_bot_app`
    takes."""
