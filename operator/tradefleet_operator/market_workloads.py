"""An ExchangeAccount's shared market-data workloads: applied, pruned, and reported.

Called by the account's pass (:mod:`tradefleet_operator.accounts`) with the account's children
from the operator's indexes. With ``spec.marketData.shared`` it applies one workload per market
type its bots trade (rendered by :mod:`tradefleet_operator.render_market`) and the Redis user
they publish as; it deletes the workloads of a market type no bot trades any more, and all of
them when sharing is turned off. What it reports becomes ``status.marketData`` and the
``MarketDataReady`` condition.

The request budget is split so that the workloads can poll every symbol: each workload may use
what its symbols need (one book a poll, in the exchange's request weight, and candles), at most
half the account's budget between them; the bots share the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradefleet_api.models import ExchangeAccountSpec

from tradefleet_operator.conditions import Condition
from tradefleet_operator.redis_users import RedisUser, RedisUsers, market_user
from tradefleet_operator.render import Owner, market_key_prefix
from tradefleet_operator.render_market import (
    MarketSet,
    market_workload_name,
    render_market_children,
)
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.writes import ChildKey, ChildWriter, of_kind

# Kinds of a market-data workload, pruned when it is no longer wanted.
_WORKLOAD_KINDS = ("Deployment", "ConfigMap", "NetworkPolicy")
# What one book poll costs in the exchange's request weight, candles included: ccxt spaces
# requests by the interval times an endpoint's weight, and a book of up to 50 levels weighs 2
# on Binance; candles (one read per timeframe per closed bar) add about a fifth.
_WEIGHT_PER_POLL = 2.4


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketData:
    """What the workloads did in a pass: their writes and their status rows."""

    writes: int
    rows: tuple[dict[str, Any], ...]

    def condition(self) -> Condition:
        waiting = [row["workload"] for row in self.rows if not row["ready"]]
        if waiting or not self.rows:
            return Condition(
                type=ConditionType.MARKET_DATA_READY,
                status=False,
                reason=Reason.NOT_PUBLISHING,
                message=(
                    f"not ready yet: {', '.join(waiting)} (`kubectl describe deployment` it)"
                    if waiting
                    else "no bot on the account yet: nothing to publish"
                ),
            )
        symbols = sum(len(row["symbols"]) for row in self.rows)
        return Condition(
            type=ConditionType.MARKET_DATA_READY,
            status=True,
            reason=Reason.PUBLISHING,
            message=f"{len(self.rows)} workload(s) publish {symbols} symbol(s)",
        )


def workload_interval_ms(
    *, spec: ExchangeAccountSpec, market_set: MarketSet, workloads: int
) -> int:
    """The least time between two requests of one workload: what its symbols need, within its
    share of half the account's budget."""
    need = len(market_set.symbols) * 60_000 / spec.market_data.poll_interval_ms * _WEIGHT_PER_POLL
    share = spec.rate_limit.requests_per_minute / 2 / max(1, workloads)
    return max(1, math.ceil(60_000 / min(need, share)))


async def reconcile_market_data(
    *,
    writer: ChildWriter,
    redis_users: RedisUsers | None,
    owner: Owner,
    spec: ExchangeAccountSpec,
    markets: Sequence[MarketSet],
    children: Mapping[ChildKey, Mapping[str, Any]],
    settings: OperatorSettings,
) -> MarketData:
    """Apply the wanted workloads, delete the others; their rows for the status."""
    wanted = markets if spec.market_data.shared else ()
    desired: list[dict[str, Any]] = []
    for market_set in wanted:
        desired += render_market_children(
            owner=owner,
            exchange=str(spec.exchange),
            market=market_set,
            request_interval_ms=workload_interval_ms(
                spec=spec, market_set=market_set, workloads=len(wanted)
            ),
            poll_interval_ms=spec.market_data.poll_interval_ms,
            settings=settings,
        )
    # Its Redis user before its Deployments: their pods sign in at start.
    user = (
        redis_users.ensure(owner=owner, user=_user(redis_users, owner, wanted))
        if desired and redis_users is not None
        else None
    )
    converged = await writer.converge(
        desired=desired, children=children, was_reconciled=True, prerequisites=user
    )
    writes = converged.writes
    keep = {(str(obj["kind"]), str(obj["metadata"]["name"])) for obj in desired}
    for kind, name in sorted(children):
        if kind in _WORKLOAD_KINDS and (kind, name) not in keep:
            writes += int(await writer.delete(kind=kind, namespace=owner.namespace, name=name))
    rows = tuple(_row(owner=owner, market_set=m, children=children) for m in wanted)
    return MarketData(writes=writes, rows=rows)


def _user(redis_users: RedisUsers, owner: Owner, markets: Sequence[MarketSet]) -> RedisUser:
    return market_user(
        admin_password=redis_users.admin_password,
        owner=owner,
        prefixes=[
            market_key_prefix(namespace=owner.namespace, account=owner.name, market=m.market)
            for m in markets
        ],
    )


def _row(
    *, owner: Owner, market_set: MarketSet, children: Mapping[ChildKey, Mapping[str, Any]]
) -> dict[str, Any]:
    name = market_workload_name(account=owner.name, market=market_set.market)
    deployment = next(
        (d for d in of_kind(children, "Deployment") if d["metadata"]["name"] == name), None
    )
    ready = bool(deployment and (deployment.get("status") or {}).get("readyReplicas"))
    return {
        "market": market_set.market,
        "workload": name,
        "symbols": list(market_set.symbols),
        "ready": ready,
        "keyPrefix": market_key_prefix(
            namespace=owner.namespace, account=owner.name, market=market_set.market
        ),
    }
