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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.persistence.records import BalanceRecord
from tradefleet_runtime.persistence.store import Flags
from tradefleet_runtime.risk import PortfolioState
from tradefleet_runtime.service.bot import BotService
from tradefleet_runtime.service.pipeline import Decision
from tradefleet_runtime.service.trading_state import (
    TradingCondition,
    TradingInputs,
    trading_condition,
)
from tradefleet_runtime.signals.ofi import OfiConfig, OfiSignal
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeModelStatus, RegimeState
from tradefleet_runtime.signals.regime_config import RegimeLabel
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
        """The body of ``GET /status`` (and of the WebSocket's hello): what the operator polls."""
        service = self.service
        start = service.account.starting_equity
        pnl = service.account.pnl()
        trip = service.account.risk.breaker.trip
        regime = service.market.bars.regime
        last = service.last_action
        position = service.position
        return {
            "bot": service.config.bot_name,
            "namespace": service.config.namespace,
            "pod": service.pod,
            "phase": service.phase,
            "mode": service.config.exchange.mode.value,
            "symbol": service.symbol,
            "equity": service.equity(),
            "pnl": pnl,
            "pnlPct": 100.0 * pnl / start if start else 0.0,
            "drawdownPct": service.portfolio.drawdown_pct if service.portfolio else 0.0,
            "requestsPerMinute": service.link.requests.per_minute(),
            "balance": _balance(service.account.balance),
            "position": {
                "side": position.side.value,
                "size": position.size,
                "entryPrice": position.entry_price,
                "stopPrice": position.stop_price,
                "targetPrice": position.target_price,
            },
            "regime": regime.regime.value if regime else RegimeLabel.UNKNOWN.value,
            "fusionWeights": service.fusion_weights.weights(),
            "fusionLearning": service.fusion_weights.status(),
            "ml": service.market.ml.status() if service.market.ml is not None else None,
            "lastSignal": {"action": last[0], "score": last[1], "at": last[2] / 1000.0}
            if last
            else {"action": "none", "score": 0.0, "at": None},
            "circuitBreaker": {
                "state": "Open" if trip else "Closed",
                "reason": trip.reason.value if trip else None,
                "message": trip.message if trip else None,
                "since": trip.tripped_at_ms / 1000.0 if trip else None,
            },
            "userPaused": service.flags.user_paused,
            "userHalted": service.flags.user_halted,
            "paused": service.flags.paused,
            "pauseReason": service.flags.pause_reason or None,
            "halted": service.flags.halted,
            "haltReason": service.flags.halt_reason or None,
            "heartbeat": service.heartbeat,
            "configHash": service.config.config_hash,
            "reconciled": service.reconciled,
            "marketDataFlowing": service.market_data_flowing,
            "openOrders": service.orders.open_order_ids(),
            "ordersBlocked": service.orders.entry_refusal() if service.reconciled else None,
            "protection": service.orders.protection.to_dict(time.time()),
            "trading": self._trading().to_dict(),
            "flatten": service.control.flatten_outcome,
            "lease": {
                "token": service.lease.token,
                "waitingFor": service.lease.waiting_for.holder
                if service.lease.waiting_for
                else None,
            },
        }

    def _trading(self) -> TradingCondition:
        """The Trading condition of ``/status``: whether the bot trades, and why not."""
        service = self.service
        trip = service.account.risk.breaker.trip
        waiting = service.lease.waiting_for
        return trading_condition(
            TradingInputs(
                flags=service.flags,
                standby_for=waiting.holder if waiting and service.lease.token is None else None,
                reconciled=service.reconciled,
                store_healthy=service.store_healthy,
                unprotected_s=service.orders.protection.unprotected_for(time.time()),
                breaker_message=f"{trip.reason.value}: {trip.message}" if trip else None,
                orders_blocked=service.orders.entry_refusal() if service.reconciled else None,
                market_data_flowing=service.market_data_flowing,
                poll_slowdown=service.poll_slowdown,
            )
        )

    async def command(self, name: str) -> dict[str, object]:
        """Run a control command; the reply of ``POST /control/<command>``."""
        await self.service.command(name)
        return {"command": name, "status": self.status()}

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


def _balance(balance: BalanceRecord | None) -> dict[str, object] | None:
    """The quote currency's balance as the exchange last reported it (the whole exchange
    account's: on an ExchangeAccount, the operator shows it on the account)."""
    if balance is None:
        return None
    return {
        "currency": balance.currency,
        "free": balance.free,
        "used": balance.used,
        "total": balance.total,
        "asOf": balance.as_of_ms / 1000.0,
    }
