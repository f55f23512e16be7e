"""Helpers for e2e tests: bot manifests, reading bot status, talking to the local exchange."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client
from tradefleet_devtools.stack import LocalStack
from tradefleet_runtime.execution.model import OrderRequest, OrderSide, OrderType
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

from support.k8s import condition, wait_for

GROUP, VERSION = "tradefleet.io", "v1alpha1"


@contextmanager
def operator_down(stack: LocalStack, *, region: str = "ap-northeast-1") -> Iterator[None]:
    """The region's operator SIGKILLed (as a crashed operator pod) for the block, then started."""
    operator = stack.operators[region]
    operator.kill()
    try:
        yield
    finally:
        operator.start()


def runtime_pid(stack: LocalStack, api: client.ApiClient, namespace: str, bot: str) -> int:
    """The host process id of the bot's running runtime container (to SIGKILL it), on a real node
    (containerd's task) or the dev node agent (a local process)."""
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(
            namespace,
            label_selector=f"tradefleet.io/bot={bot},app.kubernetes.io/name=tradefleet-bot",
        )
        .items
    )
    running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
    assert running, f"no running pod for {bot}"
    pid = stack.container_pid(
        namespace=namespace, pod=running[0].metadata.name, container="runtime"
    )
    assert pid is not None
    return pid


def exchange_admin(stack: LocalStack, path: str, payload: Any = None) -> Any:
    assert stack.exchange is not None
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{stack.exchange.url}{path}",
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def exchange_bot(
    name: str, *, symbol: str = "BTC/USDT:USDT", account: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A bot whose orders really land on the local exchange (testnet mode with its keys, or on
    the ExchangeAccount ``account``, which has them)."""
    self_healing = {
        "backoffSeconds": 1,
        "progressDeadlineSeconds": 25,
        "heartbeatTimeoutSeconds": 15,
    }
    self_healing.update(spec.pop("selfHealing", {}))
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": symbol,
            "mode": "testnet",
            **(
                {"accountRef": {"name": account}}
                if account
                else {"credentials": {"secretRef": {"name": "exchange-keys"}}}
            ),
            "selfHealing": self_healing,
            **spec,
        },
    }


def get_bot(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    bot: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", name
    )
    return bot


def wait_for_phase(
    api: client.ApiClient, namespace: str, name: str, phase: str, *, timeout_s: float
) -> dict[str, Any]:
    def in_phase() -> dict[str, Any] | None:
        bot = get_bot(api, namespace, name)
        return bot if (bot.get("status") or {}).get("phase") == phase else None

    result: dict[str, Any] = wait_for(in_phase, timeout_s=timeout_s, what=f"{name} to be {phase}")
    return result


def condition_of(
    api: client.ApiClient, namespace: str, name: str, type_: str
) -> dict[str, Any] | None:
    return condition(get_bot(api, namespace, name), type_)


def wait_for_condition(
    api: client.ApiClient,
    namespace: str,
    name: str,
    type_: str,
    *,
    status: str,
    timeout_s: float,
) -> dict[str, Any]:
    """Wait until the bot's ``type_`` condition has ``status``; return the condition."""

    def reached() -> dict[str, Any] | None:
        found = condition_of(api, namespace, name, type_)
        return found if found is not None and found.get("status") == status else None

    try:
        result: dict[str, Any] = wait_for(
            reached, timeout_s=timeout_s, what=f"{name} {type_}={status}"
        )
    except AssertionError as timed_out:
        status_now = get_bot(api, namespace, name).get("status") or {}
        raise AssertionError(
            f"{timed_out}; the bot's status: phase {status_now.get('phase')}, conditions "
            f"{status_now.get('conditions')}"
        ) from None
    return result


def set_annotation(api: client.ApiClient, namespace: str, name: str, key: str, value: str) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", name, {"metadata": {"annotations": {key: value}}}
    )


def exchange_orders(stack: LocalStack, *, prefix: str = "") -> list[dict[str, Any]]:
    state = exchange_admin(stack, "/_admin/state")
    orders: list[dict[str, Any]] = state["orders"] + state["algo_orders"]
    return [
        o
        for o in orders
        if str(o.get("clientOrderId") or o.get("clientAlgoId") or "").startswith(prefix)
    ]


def repo_path(*parts: str) -> Path:
    return Path(__file__).resolve().parents[2].joinpath(*parts)


def _exchange_symbol(symbol: str) -> str:
    """Binance's id of a perpetual: BTC/USDT:USDT is BTCUSDT."""
    return symbol.split(":", maxsplit=1)[0].replace("/", "")


def _open_position(stack: LocalStack, symbol: str) -> dict[str, Any] | None:
    for position in exchange_admin(stack, "/_admin/state")["positions"]:
        if (
            position.get("symbol") == _exchange_symbol(symbol)
            and float(position.get("positionAmt") or 0) != 0
        ):
            return dict(position)
    return None


def start_hair_trigger_bot(
    *,
    stack: LocalStack,
    api: client.ApiClient,
    namespace: str,
    name: str,
    symbol: str,
    notifications: list[dict[str, Any]] | None = None,
) -> None:
    """A bot that trades on the slightest order-flow signal and a tight drawdown limit (0.25 %);
    returns once it holds a position.

    Each caller uses its own symbol: a symbol whose price was gapped stays too volatile for any
    bot's risk engine to open positions in it again.
    """
    exchange_admin(stack, "/_admin/reset", {})
    bot = hair_trigger_bot(
        name, symbol=symbol, **({"notifications": notifications} if notifications else {})
    )
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", namespace, "tradingbots", bot
    )
    wait_for_phase(api, namespace, name, "Running", timeout_s=120)
    wait_for_position(stack, symbol)


def hair_trigger_bot(
    name: str,
    *,
    symbol: str,
    account: str | None = None,
    max_drawdown_pct: float = 0.25,
    **spec: Any,
) -> dict[str, Any]:
    """A bot that trades on the slightest order-flow signal, with a tight drawdown limit (one
    that leaves room for one stop-out on its symbol: a tighter one refuses every entry)."""
    return exchange_bot(
        name,
        symbol=symbol,
        account=account,
        # Order flow alone, with a hair trigger: the bot takes a position within seconds.
        strategy={
            "name": "fusion",
            "fusionWeights": {"regime": 0, "ofi": 1, "whale": 0, "sentiment": 0, "macro": 0},
            "thresholds": {"buy": 0.005, "strongBuy": 0.5, "sell": -0.005, "strongSell": -0.5},
        },
        risk={
            "maxPositionPct": 50,
            "maxDrawdownPct": max_drawdown_pct,
            "maxDailyLossPct": 50,
            "maxDailyVarPct": 100,
            "maxConsecutiveLosses": 100,
        },
        **spec,
    )


def wait_for_position(stack: LocalStack, symbol: str) -> bool:
    """Wait until the exchange holds a position on ``symbol``; True when long."""
    position = wait_for(
        lambda: _open_position(stack, symbol), timeout_s=120, what="the bot to open a position"
    )
    return float(position["positionAmt"]) > 0


def gap_price_against(*, stack: LocalStack, symbol: str) -> None:
    """Crash the price against the position held now in one gap: its stop fills at the gapped
    price. The side is read at the gap: a hair-trigger bot may have turned its long into a short
    since it first held a position, and a gap in its favour would trip nothing."""
    long = wait_for_position(stack, symbol)
    price = float(exchange_admin(stack, "/_admin/state")["prices"][_exchange_symbol(symbol)])
    exchange_admin(
        stack,
        "/_admin/price",
        {"symbol": symbol, "price": round(price * (0.1 if long else 1.9), 1)},
    )


async def rest_limit_buys(
    stack: LocalStack, *, symbol: str, client_ids: Sequence[str], amount: float
) -> None:
    """Limit buys at half the market on the local exchange's account, placed as a user would
    by hand (one per client id): they rest until cancelled."""
    assert stack.exchange is not None
    venue = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=ApiCredentials(
            api_key=stack.exchange.api_key, api_secret=stack.exchange.api_secret
        ),
        base_url_override=stack.exchange.url,
    )
    try:
        await venue.load_markets()
        price = (await venue.fetch_ticker(symbol=symbol)).last
        assert price is not None
        for client_id in client_ids:
            await venue.create_order(
                OrderRequest(
                    symbol=symbol,
                    side=OrderSide.BUY,
                    order_type=OrderType.LIMIT,
                    client_order_id=client_id,
                    amount=amount,
                    # Four decimals: on the tick of every local market priced above 10.
                    price=round(price * 0.5, 4),
                )
            )
    finally:
        await venue.close()
