"""ExchangeAccount against a real apiserver and the operator process: bots that reference it are
allocated its capital and run with its keys, request, orders and exposure shares; a bot that does
not fit it is refused naming the field; it shows what the exchange holds and says when it
allocates more; its drawdown limit halts every bot on it, and a rearm clears only the kill
switches it set."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, kubectl, wait_for
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
KILL_SWITCH = "tradefleet.io/kill-switch"
HALTED_BY = "tradefleet.io/halted-by-account"


def _account(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ExchangeAccount",
        "metadata": {"name": name},
        "spec": {
            "exchange": "binance",
            "mode": "testnet",
            "credentials": {"secretRef": {"name": "fleet-keys"}},
            **spec,
        },
    }


def _bot(name: str, symbol: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": symbol,
            "mode": "testnet",
            "accountRef": {"name": "fleet"},
            **spec,
        },
    }


def _create_keys(api: client.ApiClient, namespace: str) -> None:
    """The account's keys: a Secret ``fleet-keys`` marked for bots."""
    client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "fleet-keys", "labels": {"tradefleet.io/credentials": "true"}},
            "stringData": {"apiKey": "k", "apiSecret": "s"},
        },
    )


def _get(custom: client.CustomObjectsApi, namespace: str, plural: str, name: str) -> Any:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)


def _config(api: client.ApiClient, namespace: str, bot: str) -> dict[str, Any] | None:
    try:
        data = client.CoreV1Api(api).read_namespaced_config_map(f"{bot}-config", namespace).data
    except client.ApiException:
        return None
    config: dict[str, Any] = json.loads(data["config.json"])
    return config


def _annotations(custom: client.CustomObjectsApi, namespace: str, bot: str) -> dict[str, str]:
    found: dict[str, str] = (
        _get(custom, namespace, "tradingbots", bot)["metadata"].get("annotations") or {}
    )
    return found


def _report_balance(
    custom: client.CustomObjectsApi, namespace: str, bot: str, *, total: float, at: str
) -> None:
    """Write the balance a bot's runtime would report into its status, as the operator does.

    A pass of the bot's that began before this write ends by writing its own status without it
    (there is no runtime here to report it again): written until it has held for 2 s, longer
    than a pass."""
    balance = {"currency": "USDT", "free": total, "used": 0.0, "total": total, "observedAt": at}
    seen: list[float] = []

    def reported() -> bool:
        status = _get(custom, namespace, "tradingbots", bot).get("status") or {}
        if (status.get("balance") or {}).get("observedAt") == at:
            seen.append(time.monotonic())
            return seen[-1] - seen[0] > 2.0
        seen.clear()
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "tradingbots", bot, {"status": {"balance": balance}}
        )
        return False

    wait_for(reported, timeout_s=30, what=f"{bot}'s balance in its status")


def test_an_account_allocates_its_bots_and_halts_them_at_its_drawdown_limit(
    cluster: ClusterAccess,
    namespace: str,
    tokyo_operator: OperatorProcess,
    api_client: client.ApiClient,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    _create_keys(api_client, namespace)
    account = _account(
        "fleet",
        rateLimit={"requestsPerMinute": 600},
        allocation={"capital": 3000, "policy": "weighted", "weights": {"alpha": 2}},
        risk={"maxDrawdownPct": 10, "maxGrossExposure": 1500},
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "exchangeaccounts", account)
    for bot in (_bot("alpha", "BTC/USDT:USDT"), _bot("beta", "ETH/USDT:USDT")):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)

    def allocated() -> dict[str, Any] | None:
        status = _get(custom, namespace, "exchangeaccounts", "fleet").get("status") or {}
        rows = {row["name"]: row["allocation"] for row in status.get("bots") or []}
        return status if rows == {"alpha": 2000, "beta": 1000} else None

    status = wait_for(allocated, timeout_s=30, what="the account to allocate both bots")
    assert status["phase"] == "Ready" and status["botCount"] == 2
    assert (status["allocated"], status["free"], status["equity"]) == (3000, 0, 3000)
    ready = condition({"status": status}, "Ready")
    assert ready is not None and ready["reason"] == "Allocated", ready

    # Each bot runs with its slice: its capital, a request spacing that keeps the two within
    # 600 a minute, an exposure limit that keeps the two within 1,500, and the account's keys.
    # A bot whose pass comes before its peer joins the account is first given the whole
    # account, and its slice shrinks when the peer joins: wait for the slice of both.
    config = wait_for(
        lambda: (
            config
            if (config := _config(api_client, namespace, "alpha"))
            and config["risk"]["capital"] == 2000
            else None
        ),
        timeout_s=30,
        what="alpha's config with its slice of the two bots' account",
    )
    assert config["risk"]["maxTotalExposurePct"] == 50
    assert config["exchange"]["requestIntervalMs"] == 200
    assert config["exchange"]["credentials"]["apiKeyEnv"]
    # The ConfigMap is written before the Deployment that mounts it: wait for the Deployment.
    deployment = wait_for(
        lambda: next(
            iter(
                client.AppsV1Api(api_client)
                .list_namespaced_deployment(namespace, field_selector="metadata.name=alpha")
                .items
            ),
            None,
        ),
        timeout_s=30,
        what="alpha's Deployment",
    )
    env = deployment.spec.template.spec.containers[0].env
    secrets = {
        e.value_from.secret_key_ref.name
        for e in env
        if e.value_from and e.value_from.secret_key_ref
    }
    assert "fleet-keys" in secrets

    table = kubectl("get", "xa", "-n", namespace, kubeconfig=cluster.kubeconfig).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "EXCHANGE", "MODE", "PHASE", "BOTS", "EQUITY"]
    assert row.split()[:5] == ["fleet", "binance", "testnet", "Ready", "2"]

    # A bot of another mode than its account: refused, naming the field and the fix.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", _bot("gamma", "SOL/USDT:USDT", mode="paper")
    )

    def refused() -> dict[str, Any] | None:
        ready = condition(_get(custom, namespace, "tradingbots", "gamma"), "Ready")
        return ready if ready and ready["reason"] == "AccountConflict" else None

    gamma = wait_for(refused, timeout_s=30, what="gamma refused")
    assert gamma["message"].startswith("spec.mode: spec.mode is paper but ExchangeAccount fleet")

    # beta loses 400: the account is 13.3 % below its peak of 3,000, over its 10 % limit.
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "tradingbots", "beta", {"status": {"pnl": -400.0}}
    )

    def halted() -> dict[str, Any] | None:
        status = _get(custom, namespace, "exchangeaccounts", "fleet").get("status") or {}
        return status if status.get("phase") == "Halted" else None

    status = wait_for(halted, timeout_s=30, what="the account to halt")
    assert status["drawdownPct"] == pytest.approx(100 * 400 / 3000)
    halted_condition = condition({"status": status}, "Halted")
    assert halted_condition is not None and halted_condition["reason"] == "AccountDrawdownLimit"
    for bot in ("alpha", "beta", "gamma"):
        annotations = _annotations(custom, namespace, bot)
        assert annotations.get(KILL_SWITCH) == "true", (bot, annotations)
        assert annotations.get(HALTED_BY) == "fleet"

    # A user's own kill switch on alpha is the user's: the rearm leaves it.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "tradingbots",
        "alpha",
        {"metadata": {"annotations": {HALTED_BY: None}}},
    )
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "exchangeaccounts",
        "fleet",
        {"metadata": {"annotations": {"tradefleet.io/rearm": "after-review-1"}}},
    )

    def rearmed() -> dict[str, Any] | None:
        status = _get(custom, namespace, "exchangeaccounts", "fleet").get("status") or {}
        return status if status.get("phase") == "Ready" else None

    status = wait_for(rearmed, timeout_s=30, what="the account to trade again")
    assert status["drawdownPct"] == 0 and status["peakEquity"] == 2600
    wait_for(
        lambda: KILL_SWITCH not in _annotations(custom, namespace, "beta"),
        timeout_s=30,
        what="the account's kill switch on beta to be cleared",
    )
    assert _annotations(custom, namespace, "alpha").get(KILL_SWITCH) == "true"


def test_a_bot_on_a_missing_account_waits_and_starts_once_it_exists(
    namespace: str, tokyo_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    bot = _bot("early", "BTC/USDT:USDT", mode="paper")
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)

    def waiting() -> dict[str, Any] | None:
        ready = condition(_get(custom, namespace, "tradingbots", "early"), "Ready")
        return ready if ready and ready["reason"] == "AccountNotFound" else None

    ready = wait_for(waiting, timeout_s=30, what="the bot to wait for its account")
    assert "create it or fix spec.accountRef.name" in ready["message"]
    assert _get(custom, namespace, "tradingbots", "early")["status"]["phase"] == "Pending"

    account = _account("fleet", mode="paper", allocation={"capital": 500})
    del account["spec"]["credentials"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "exchangeaccounts", account)
    config = wait_for(
        lambda: _config(api_client, namespace, "early"), timeout_s=30, what="the bot's config"
    )
    assert config["risk"]["capital"] == 500
    assert config["exchange"]["requestIntervalMs"] == 50  # 1,200 a minute, one bot


def test_shared_market_data_runs_one_workload_per_market_type_for_the_accounts_symbols(
    namespace: str, tokyo_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    account = _account("fleet", mode="paper", allocation={"capital": 900})
    del account["spec"]["credentials"]
    account["spec"]["marketData"] = {"shared": True, "pollIntervalMs": 500}
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "exchangeaccounts", account)
    for name, symbol in (("alpha", "BTC/USDT:USDT"), ("beta", "ETH/USDT:USDT")):
        bot = _bot(name, symbol, mode="paper", strategy={"timeframe": "1m"})
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)

    def published() -> dict[str, Any] | None:
        try:
            data = (
                client.CoreV1Api(api_client)
                .read_namespaced_config_map("fleet-market-futures", namespace)
                .data
            )
        except client.ApiException:
            return None
        config: dict[str, Any] = json.loads(data["config.json"])
        return config if len(config["symbols"]) == 2 else None

    config = wait_for(published, timeout_s=30, what="the workload's config with both symbols")
    assert config["symbols"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert config["timeframes"] == ["1m"]
    assert config["redis"]["keyPrefix"] == f"tradefleet:market:{namespace}:fleet:futures"
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment(
        "fleet-market-futures", namespace
    )
    assert deployment.spec.template.spec.containers[0].command[-1] == "market-data"

    # The bots read it instead of polling the exchange.
    def shared() -> dict[str, Any] | None:
        config = _config(api_client, namespace, "alpha")
        return config if config and "marketData" in config else None

    bot_config = wait_for(shared, timeout_s=30, what="alpha's config to read the shared data")
    assert bot_config["marketData"] == {
        "source": "shared",
        "sharedKeyPrefix": f"tradefleet:market:{namespace}:fleet:futures",
    }
    status = _get(custom, namespace, "exchangeaccounts", "fleet")["status"]
    ready = condition({"status": status}, "MarketDataReady")
    assert ready is not None and ready["status"] == "False", ready
    assert status["marketData"][0]["workload"] == "fleet-market-futures"

    # Sharing turned off: the workload goes, the bots poll the exchange again.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "exchangeaccounts",
        "fleet",
        {"spec": {"marketData": {"shared": False}}},
    )

    def gone() -> bool:
        names = {
            d.metadata.name
            for d in client.AppsV1Api(api_client).list_namespaced_deployment(namespace).items
        }
        return "fleet-market-futures" not in names

    wait_for(gone, timeout_s=30, what="the workload to be deleted")
    wait_for(
        lambda: "marketData" not in (_config(api_client, namespace, "alpha") or {"marketData": 1}),
        timeout_s=30,
        what="alpha to poll the exchange again",
    )


def test_a_new_request_and_orders_budget_reaches_every_bot_on_the_account(
    namespace: str, tokyo_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    account = _account("fleet", mode="paper", allocation={"capital": 1000})
    del account["spec"]["credentials"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "exchangeaccounts", account)
    for name, symbol in (("alpha", "BTC/USDT:USDT"), ("beta", "ETH/USDT:USDT")):
        bot = _bot(name, symbol, mode="paper")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)

    def spaced(requests_ms: int, orders_ms: int | None) -> Callable[[], bool]:
        def both() -> bool:
            for bot in ("alpha", "beta"):
                block = (_config(api_client, namespace, bot) or {}).get("exchange") or {}
                if (block.get("requestIntervalMs"), block.get("orderIntervalMs")) != (
                    requests_ms,
                    orders_ms,
                ):
                    return False
            return True

        return both

    # 1,200 requests a minute by default, shared by two bots: one every 100 ms each; no orders
    # budget, so no order spacing.
    wait_for(spaced(100, None), timeout_s=30, what="both bots on the default budget")
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "exchangeaccounts",
        "fleet",
        {"spec": {"rateLimit": {"requestsPerMinute": 300, "ordersPerSecond": 4}}},
    )
    # 300 a minute for two: 400 ms each; 4 orders a second for two: 500 ms each.
    wait_for(spaced(400, 500), timeout_s=30, what="both bots on the new budget")


def test_an_account_shows_the_exchange_balance_and_says_when_it_allocates_more(
    namespace: str, tokyo_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    _create_keys(api_client, namespace)
    account = _account("fleet", allocation={"capital": 3000})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "exchangeaccounts", account)
    for bot in (_bot("alpha", "BTC/USDT:USDT"), _bot("beta", "ETH/USDT:USDT")):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)

    def funded(reason: str) -> dict[str, Any] | None:
        status = _get(custom, namespace, "exchangeaccounts", "fleet").get("status") or {}
        found = condition({"status": status}, "Funded")
        return status if found is not None and found["reason"] == reason else None

    # Until a bot's runtime has read the balance, the account cannot tell.
    status = wait_for(lambda: funded("BalanceNotReported"), timeout_s=30, what="Funded Unknown")
    unknown = condition({"status": status}, "Funded")
    assert unknown is not None and unknown["status"] == "Unknown"
    # The latest reading of what the exchange holds stands.
    _report_balance(custom, namespace, "alpha", total=5000.0, at="2026-12-06T10:00:00Z")
    status = wait_for(
        lambda: funded("BalanceCoversAllocation"), timeout_s=30, what="the account funded"
    )
    assert [(b["currency"], b["total"], b["allocated"]) for b in status["balances"]] == [
        ("USDT", 5000.0, 3000.0)
    ]
    _report_balance(custom, namespace, "beta", total=2500.0, at="2026-12-06T10:00:05Z")
    status = wait_for(
        lambda: funded("AllocationExceedsBalance"), timeout_s=30, what="the account short"
    )
    short = condition({"status": status}, "Funded")
    assert short is not None and short["status"] == "False"
    assert short["message"] == (
        "3000.00 USDT allocated is more than the exchange holds (status.balances): lower "
        "spec.allocation.capital or fund the exchange account"
    )
    assert status["balances"][0]["reportedBy"] == "beta"
    # Kopf posts events in the background, so the event may follow the status it explains.
    events = wait_for(
        lambda: (
            client.CoreV1Api(api_client)
            .list_namespaced_event(
                namespace,
                field_selector="involvedObject.name=fleet,reason=AllocationExceedsBalance",
            )
            .items
        ),
        timeout_s=10,
        what="the AllocationExceedsBalance event",
    )
    assert [e.message for e in events] == [
        "3000.00 USDT allocated, the exchange holds 2500.00 (read by beta)"
    ]
