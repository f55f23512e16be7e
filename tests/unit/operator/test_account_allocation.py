"""An ExchangeAccount splits its capital between its bots as its policy says, measures itself from
its bots' PnL, and gives each bot its terms: the account's keys, its allocation as its capital,
its share of the request budget and of the gross exposure limit."""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_api import validate
from tradefleet_api.models import AllocationSpec, ExchangeAccountSpec
from tradefleet_operator.account_terms import AccountTerms, AccountView, AccountWait, bot_terms
from tradefleet_operator.allocation import (
    BotFigures,
    BotSlice,
    account_figures,
    allocate,
    bot_figures,
    funding,
    order_interval_ms,
    rebalance,
    request_interval_ms,
    slices_of,
)
from tradefleet_operator.market_workloads import workload_interval_ms
from tradefleet_operator.render import Owner
from tradefleet_operator.render_market import MarketSet, market_sets, render_market_children
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import (
    ProblemReason,
    ValidationProblem,
    parse_exchange_account_spec,
    parse_trading_bot_spec,
    validate_exchange_account_spec,
    validate_trading_bot_spec,
)

pytestmark = pytest.mark.unit


def _allocation(**fields: Any) -> AllocationSpec:
    return validate(AllocationSpec, {"capital": 3000, **fields})


def test_equal_splits_the_capital_evenly() -> None:
    amounts = allocate(spec=_allocation(), names=["a", "b", "c"], returns={})
    assert amounts == {"a": 1000, "b": 1000, "c": 1000}


def test_fixed_gives_named_bots_their_amount_and_shares_the_rest() -> None:
    spec = _allocation(policy="fixed", amounts={"a": 2000, "ghost": 400})
    amounts = allocate(spec=spec, names=["a", "b", "c"], returns={})
    # A named bot that does not exist yet keeps its amount reserved (free).
    assert amounts == {"a": 2000, "b": 300, "c": 300}


def test_weighted_normalises_and_an_unnamed_bot_weighs_one() -> None:
    spec = _allocation(policy="weighted", weights={"a": 2, "b": 0})
    amounts = allocate(spec=spec, names=["a", "b", "c"], returns={})
    assert amounts == {"a": 2000, "b": 0, "c": 1000}


def test_risk_parity_weighs_inversely_to_volatility_once_every_bot_has_history() -> None:
    spec = _allocation(policy="riskParity")
    calm = [0.01, -0.01, 0.01, -0.01]
    wild = [0.04, -0.04, 0.04, -0.04]
    amounts = allocate(spec=spec, names=["calm", "wild"], returns={"calm": calm, "wild": wild})
    assert amounts["calm"] == pytest.approx(2400)
    assert amounts["wild"] == pytest.approx(600)
    # Until every bot has three returns: equal.
    young = allocate(spec=spec, names=["calm", "new"], returns={"calm": calm, "new": [0.1]})
    assert young == {"calm": 1500, "new": 1500}


def test_sharpe_favours_the_better_ratio_and_floors_a_losing_bot() -> None:
    spec = _allocation(policy="sharpe")
    good = [0.02, 0.03, 0.01, 0.02]  # mean 0.02, sd 0.008: Sharpe 2.45
    fair = [0.02, -0.01, 0.03, 0.0]  # mean 0.01, sd 0.018: Sharpe 0.55
    losing = [-0.02, -0.01, -0.03, 0.0]
    returns = {"good": good, "fair": fair, "losing": losing}
    amounts = allocate(spec=spec, names=["good", "fair", "losing"], returns=returns)
    assert amounts["good"] > 3 * amounts["fair"] > 0
    # Not zero: it still trades, small, and can earn its way back.
    assert 0 < amounts["losing"] < amounts["fair"]
    assert sum(amounts.values()) == pytest.approx(3000)


def test_a_rebalance_records_each_bots_return_over_the_period() -> None:
    previous = {"a": BotSlice(name="a", allocation=1000, period_start_pnl=50, returns=(0.01,))}
    bots = [BotFigures(name="a", pnl=150), BotFigures(name="b", pnl=None)]
    slices = rebalance(spec=_allocation(lookback=3), bots=bots, previous=previous)
    assert slices["a"].returns == (0.01, 0.1)  # (150 - 50) / 1000
    assert slices["a"].period_start_pnl == 150
    assert slices["b"].returns == ()
    assert slices["a"].allocation == slices["b"].allocation == 1500
    # Round trip through the status.
    status = {"bots": [s.to_status(None) for s in slices.values()]}
    assert slices_of(status) == slices


def test_account_drawdown_is_measured_from_its_peak_and_restarts_on_rearm() -> None:
    slices = {"a": BotSlice(name="a", allocation=1000), "b": BotSlice(name="b", allocation=1000)}
    bots = [BotFigures(name="a", pnl=-250.0), BotFigures(name="b", pnl=50.0, exposure=700.0)]
    previous = {"capital": 2500.0, "peakEquity": 2600.0}
    held = account_figures(capital=2500, slices=slices, bots=bots, previous=previous, rearmed=False)
    assert held.free == 500 and held.allocated == 2000
    assert held.equity == 2300  # 500 free + 2000 allocated - 200 PnL
    assert held.drawdown_pct == pytest.approx(100 * 300 / 2600)
    assert held.gross_exposure == 700
    rearmed = account_figures(
        capital=2500, slices=slices, bots=bots, previous=previous, rearmed=True
    )
    assert rearmed.peak_equity == 2300 and rearmed.drawdown_pct == 0
    # A new capital is a new account: its peak restarts too.
    recapitalised = account_figures(
        capital=5000, slices=slices, bots=bots, previous=previous, rearmed=False
    )
    assert recapitalised.drawdown_pct == 0


def test_request_spacing_keeps_the_bots_together_within_the_budget() -> None:
    # 4 bots on 1,200 requests a minute: 300 each, one every 200 ms.
    assert request_interval_ms(requests_per_minute=1200, bots=4) == 200
    assert request_interval_ms(requests_per_minute=7, bots=1) == 8572


ACCOUNT = {
    "exchange": "binance",
    "mode": "testnet",
    "credentials": {"secretRef": {"name": "fleet-keys"}},
    "rateLimit": {"requestsPerMinute": 600},
    "allocation": {"capital": 3000},
    "risk": {"maxGrossExposure": 1500},
}
ALLOCATED = {
    "phase": "Ready",
    "bots": [{"name": "alpha", "allocation": 2000.0}, {"name": "beta", "allocation": 1000.0}],
}
BOT = {
    "exchange": "binance",
    "market": "futures",
    "symbol": "BTC/USDT:USDT",
    "mode": "testnet",
    "accountRef": {"name": "fleet"},
}


def _view(status: dict[str, Any], **spec: Any) -> AccountView:
    return AccountView(spec=parse_exchange_account_spec({**ACCOUNT, **spec}), status=status)


def test_a_bot_takes_the_accounts_keys_capital_request_share_and_exposure_share() -> None:
    bound = bot_terms(
        name="alpha", namespace="desk", spec=parse_trading_bot_spec(BOT), view=_view(ALLOCATED)
    )
    assert not isinstance(bound, AccountWait | ValidationProblem)
    spec, terms = bound
    assert spec.credentials is not None and spec.credentials.secret_ref.name == "fleet-keys"
    assert terms == AccountTerms(
        account="fleet",
        capital=2000.0,
        request_interval_ms=200,  # 600 a minute shared by two bots
        max_total_exposure_pct=50.0,  # 1,500 of the 3,000 allocated
        max_single_asset_exposure_pct=50.0,
        max_position_pct=10.0,
    )
    assert terms.risk({"kellyFraction": 0.5})["capital"] == 2000.0


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        (None, "AccountNotFound"),
        (AccountView(spec=None, status={}), "AccountNotReady"),
        (
            AccountView(spec=parse_exchange_account_spec(ACCOUNT), status={"phase": "Invalid"}),
            "AccountNotReady",
        ),
        (AccountView(spec=parse_exchange_account_spec(ACCOUNT), status={}), "AllocationPending"),
    ],
)
def test_a_bot_waits_for_its_account_and_its_allocation(
    view: AccountView | None, reason: str
) -> None:
    bound = bot_terms(name="gamma", namespace="desk", spec=parse_trading_bot_spec(BOT), view=view)
    assert isinstance(bound, AccountWait) and bound.reason == reason


def test_a_bot_of_another_mode_than_its_account_is_refused_naming_the_field() -> None:
    spec = parse_trading_bot_spec({**BOT, "mode": "paper"})
    bound = bot_terms(name="alpha", namespace="desk", spec=spec, view=_view(ALLOCATED))
    assert isinstance(bound, ValidationProblem)
    assert bound.reason is ProblemReason.ACCOUNT_CONFLICT and bound.field == "spec.mode"
    assert "set spec.mode: testnet" in bound.message


def test_a_bot_on_an_account_with_its_own_keys_or_capital_is_invalid() -> None:
    spec = parse_trading_bot_spec(
        {**BOT, "credentials": {"secretRef": {"name": "mine"}}, "risk": {"capital": 10}}
    )
    problems = validate_trading_bot_spec(spec)
    assert [(p.field, p.reason) for p in problems] == [
        ("spec.credentials", ProblemReason.ACCOUNT_CONFLICT),
        ("spec.risk.capital", ProblemReason.ACCOUNT_CONFLICT),
    ]
    # Its mode needs no keys of its own: the account has them.
    assert validate_trading_bot_spec(parse_trading_bot_spec(BOT)) == []


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"credentials": None}, "spec.credentials", "TestnetModeNeedsCredentials"),
        ({"exchange": "okx"}, "spec.credentials.secretRef.passphraseKey", "PassphraseRequired"),
        ({"exchange": "kraken"}, "spec.mode", "TestnetNotSupported"),
        (
            {"allocation": {"capital": 3000, "rebalanceSchedule": "61 * * * *"}},
            "spec.allocation.rebalanceSchedule",
            "ScheduleInvalid",
        ),
    ],
)
def test_an_account_spec_is_checked_beyond_its_schema(
    change: dict[str, Any], field: str, reason: str
) -> None:
    spec: ExchangeAccountSpec = parse_exchange_account_spec(
        {k: v for k, v in {**ACCOUNT, **change}.items() if v is not None}
    )
    problems = validate_exchange_account_spec(spec)
    assert [(p.field, str(p.reason)) for p in problems] == [(field, reason)]


def _reported(total: float, at: str, currency: str = "USDT") -> dict[str, Any]:
    return {"currency": currency, "free": total, "used": 0.0, "total": total, "observedAt": at}


def test_funding_compares_each_currencys_latest_balance_with_its_bots_allocations() -> None:
    slices = {
        "alpha": BotSlice(name="alpha", allocation=2000.0),
        "beta": BotSlice(name="beta", allocation=1000.0),
        "gamma": BotSlice(name="gamma", allocation=500.0),
    }
    bots = [
        bot_figures(name="alpha", status={"balance": _reported(5000, "2026-12-06T10:00:00Z")}),
        # beta read the same account later, after a withdrawal: its figure is the one that holds.
        bot_figures(name="beta", status={"balance": _reported(2500, "2026-12-06T10:00:05Z")}),
        bot_figures(name="gamma", status={}),  # not read yet
        bot_figures(name="bad", status={"balance": {"currency": "USDT", "total": "lots"}}),
    ]
    held = funding(
        currencies={"alpha": "USDT", "beta": "USDT", "gamma": "USDC"}, slices=slices, bots=bots
    )
    assert [(f.currency, f.allocated, f.covered) for f in held] == [
        ("USDC", 500.0, None),
        ("USDT", 3000.0, False),
    ]
    usdt = held[1].to_status()
    assert usdt is not None
    assert (usdt["total"], usdt["reportedBy"], usdt["observedAt"]) == (
        2500.0,
        "beta",
        "2026-12-06T10:00:05Z",
    )
    assert held[0].to_status() is None
    enough = funding(currencies={"alpha": "USDT"}, slices=slices, bots=bots[:1])
    assert [(f.allocated, f.covered) for f in enough] == [(2000.0, True)]


def test_an_orders_budget_spaces_each_bots_orders_by_its_share() -> None:
    assert order_interval_ms(orders_per_second=None, bots=3) is None
    # 10 orders a second shared by 4 bots: 2.5 each, one every 400 ms.
    assert order_interval_ms(orders_per_second=10, bots=4) == 400
    assert order_interval_ms(orders_per_second=0.5, bots=1) == 2000
    # Never longer than the runtime accepts (an hour): its config would be refused.
    assert order_interval_ms(orders_per_second=0.01, bots=37) == 3_600_000
    assert request_interval_ms(requests_per_minute=1, bots=100) == 3_600_000
    view = _view(ALLOCATED, rateLimit={"requestsPerMinute": 600, "ordersPerSecond": 4})
    bound = bot_terms(name="beta", namespace="desk", spec=parse_trading_bot_spec(BOT), view=view)
    assert not isinstance(bound, AccountWait | ValidationProblem)
    assert bound[1].order_interval_ms == 500  # 4 a second shared by two bots
    unbudgeted = bot_terms(
        name="beta", namespace="desk", spec=parse_trading_bot_spec(BOT), view=_view(ALLOCATED)
    )
    assert not isinstance(unbudgeted, AccountWait | ValidationProblem)
    assert unbudgeted[1].order_interval_ms is None


def test_with_shared_market_data_the_bots_read_it_and_share_half_the_budget() -> None:
    workloads = {**ALLOCATED, "marketData": [{"market": "futures"}]}
    view = _view(workloads, marketData={"shared": True})
    bound = bot_terms(name="alpha", namespace="desk", spec=parse_trading_bot_spec(BOT), view=view)
    assert not isinstance(bound, AccountWait | ValidationProblem)
    _, terms = bound
    assert terms.market_key == "tradefleet:market:desk:fleet:futures"
    # 600 a minute: 300 for the workload, 300 for the two bots.
    assert terms.request_interval_ms == 400


def test_the_market_data_workloads_publish_each_symbol_once_per_market_type() -> None:
    sets = market_sets(
        [
            ("futures", "BTC/USDT:USDT", "5m"),
            ("futures", "BTC/USDT:USDT", "1h"),  # a second bot on another timeframe
            ("futures", "ETH/USDT:USDT", "5m"),
            ("spot", "BTC/USDT", "5m"),
        ]
    )
    assert sets == [
        MarketSet(
            market="futures", symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), timeframes=("1h", "5m")
        ),
        MarketSet(market="spot", symbols=("BTC/USDT",), timeframes=("5m",)),
    ]
    spec = parse_exchange_account_spec(
        {**ACCOUNT, "marketData": {"shared": True, "pollIntervalMs": 500}}
    )
    # Two symbols every 500 ms: 240 books a minute, 576 in request weight with candles; half of
    # 600 shared by two workloads gives it 150.
    assert workload_interval_ms(spec=spec, market_set=sets[0], workloads=2) == 400
    # One symbol every 500 ms needs 288: what it gets, though its share is 300.
    assert workload_interval_ms(spec=spec, market_set=sets[1], workloads=1) == 209


def test_a_spot_market_data_workload_may_reach_binances_spot_streams() -> None:
    children = render_market_children(
        owner=Owner(kind="ExchangeAccount", name="fleet", namespace="ns", uid="uid-1"),
        exchange="binance",
        market=MarketSet(market="spot", symbols=("BTC/USDT",), timeframes=("5m",)),
        request_interval_ms=200,
        poll_interval_ms=1000,
        settings=OperatorSettings(region="ap-northeast-1"),
    )
    (policy,) = [c for c in children if c["kind"] == "NetworkPolicy"]
    allowed = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    # wss://stream.binance.com:9443 (ccxt.pro's spot streams), besides REST on 443.
    assert {443, 9443} <= allowed
