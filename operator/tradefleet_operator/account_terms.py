"""What a bot on an ExchangeAccount trades with: the account's keys, its allocation as its capital,
its share of the request budget and of the gross exposure limit, and the account's shared market
data. Pure.

Called by a bot's pass (:meth:`tradefleet_operator.reconcile.Reconciler.reconcile_bot`) with the
account the bot's ``spec.accountRef`` names, as the operator's index holds it. The terms come
from the account's status, where its own pass (:mod:`tradefleet_operator.accounts`) wrote the
allocation; the bot waits (Pending) until the account exists and has allocated it, and is
Invalid when it names another exchange or mode than the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tradefleet_api.models import CredentialsSpec, ExchangeAccountSpec

from tradefleet_operator.allocation import (
    BotSlice,
    bots_budget,
    exposure_limit_pct,
    order_interval_ms,
    request_interval_ms,
    slices_of,
)
from tradefleet_operator.render import market_key_prefix
from tradefleet_operator.spec import ProblemReason, TradingBotSpec, ValidationProblem
from tradefleet_operator.spec.vocabulary import Reason


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountTerms:
    """What the account gives the bot: its capital, the least time between two of its exchange
    requests and between two of its orders, and its exposure limits in percent of its
    equity."""

    account: str
    capital: float
    request_interval_ms: int
    max_total_exposure_pct: float
    max_single_asset_exposure_pct: float
    max_position_pct: float
    # Where the account's shared market data for the bot's market type is published, if shared.
    market_key: str | None = None
    # The least time between two of its orders, when the account has an orders budget.
    order_interval_ms: int | None = None

    def risk(self, raw_risk: Mapping[str, Any]) -> dict[str, Any]:
        """The bot's ``spec.risk`` as the runtime gets it on this account."""
        return {
            **raw_risk,
            "capital": self.capital,
            "maxTotalExposurePct": self.max_total_exposure_pct,
            "maxSingleAssetExposurePct": self.max_single_asset_exposure_pct,
            "maxPositionPct": self.max_position_pct,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountView:
    """An ExchangeAccount as the operator's index holds it: its parsed spec (None when it cannot
    be read), its status, and its bots' slices read from the status once per account event,
    not at every pass of each of its bots."""

    spec: ExchangeAccountSpec | None
    status: Mapping[str, Any]
    slices: Mapping[str, BotSlice] = field(init=False)
    allocated: float = field(init=False)

    def __post_init__(self) -> None:
        slices = slices_of(self.status)
        object.__setattr__(self, "slices", slices)
        object.__setattr__(self, "allocated", sum(s.allocation for s in slices.values()))


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountWait:
    """Why a bot on an account cannot start yet (Pending, with this reason and message)."""

    reason: Reason
    message: str


def bot_terms(
    *,
    name: str,
    namespace: str,
    spec: TradingBotSpec,
    view: AccountView | None,
) -> tuple[TradingBotSpec, AccountTerms] | AccountWait | ValidationProblem:
    """The bot's spec with the account's keys and its :class:`AccountTerms`; or why it waits;
    or why it may not trade on the account."""
    assert spec.account_ref is not None
    account_name = spec.account_ref.name
    if view is None:
        return AccountWait(
            reason=Reason.ACCOUNT_NOT_FOUND,
            message=(
                f"ExchangeAccount {account_name!r} not found in the bot's namespace: create it "
                "or fix spec.accountRef.name"
            ),
        )
    account, account_status = view.spec, view.status
    if account is None or account_status.get("phase") == "Invalid":
        return AccountWait(
            reason=Reason.ACCOUNT_NOT_READY,
            message=f"ExchangeAccount {account_name} is Invalid: see its conditions",
        )
    for key, own, theirs in (
        ("exchange", spec.exchange, account.exchange),
        ("mode", spec.mode, account.mode),
    ):
        if own != theirs:
            return ValidationProblem(
                field=f"spec.{key}",
                reason=ProblemReason.ACCOUNT_CONFLICT,
                message=(
                    f"spec.{key} is {own} but ExchangeAccount {account_name} is {theirs}: a bot "
                    f"on an account trades on its {key}; set spec.{key}: {theirs}"
                ),
            )
    slices = view.slices
    own_slice = slices.get(name)
    if own_slice is None or own_slice.allocation <= 0:
        return AccountWait(
            reason=Reason.ALLOCATION_PENDING,
            message=(
                f"ExchangeAccount {account_name} has not allocated capital to this bot yet"
                if own_slice is None
                else f"ExchangeAccount {account_name} allocates this bot no capital "
                f"(policy {account.allocation.policy}): give it an amount or a weight"
            ),
        )
    total = exposure_limit_pct(
        max_gross_exposure=account.risk.max_gross_exposure,
        allocated=view.allocated,
        own_limit_pct=spec.risk.max_total_exposure_pct,
    )
    terms = AccountTerms(
        account=account_name,
        capital=own_slice.allocation,
        request_interval_ms=request_interval_ms(
            requests_per_minute=bots_budget(
                requests_per_minute=account.rate_limit.requests_per_minute,
                workloads=len(account_status.get("marketData") or []),
            ),
            bots=len(slices),
        ),
        order_interval_ms=order_interval_ms(
            orders_per_second=account.rate_limit.orders_per_second, bots=len(slices)
        ),
        market_key=market_key_prefix(namespace=namespace, account=account_name, market=spec.market)
        if account.market_data.shared
        else None,
        max_total_exposure_pct=total,
        # The runtime's order of limits (a position within a single asset within the total)
        # holds under the lowered total.
        max_single_asset_exposure_pct=min(spec.risk.max_single_asset_exposure_pct, total),
        max_position_pct=min(spec.risk.max_position_pct, total),
    )
    credentials = (
        CredentialsSpec.model_validate({"secretRef": account.credentials.secret_ref})
        if account.credentials is not None
        else None
    )
    return spec.model_copy(update={"credentials": credentials}), terms
