"""Desired state of an ExchangeAccount's shared market-data workloads, rendered from its bots.

Pure, no I/O: :mod:`tradefleet_operator.market_workloads` calls it for an account with
``spec.marketData.shared`` and applies what differs from the cluster. One workload per
market type (spot, futures) its bots trade: a ConfigMap with the ``MarketDataConfig`` the
runtime's ``market-data`` command reads (the symbols and timeframes of the account's bots), a
Deployment running it in the operator's region, and a NetworkPolicy (the exchange over HTTPS and
Redis only). Names, labels and security are the bots' (:mod:`tradefleet_operator.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradefleet_api import content_hash

from tradefleet_operator.render import (
    ANNOTATION_CONFIG_HASH,
    API_VERSION,
    CONFIG_FILE,
    CONFIG_MOUNT,
    LABEL_ACCOUNT,
    LABEL_MARKET,
    Owner,
    account_labels,
    child_metadata,
    child_name,
    config_map_of,
    container_resources,
    container_security,
    market_key_prefix,
    network_policy_spec,
    redis_env,
    single_pod_deployment,
)
from tradefleet_operator.settings import OperatorSettings

# The exchange (HTTP, HTTPS, and 9443 where Binance serves its spot streams) and Redis, plus
# DNS; nothing else.
MARKET_EGRESS_PORTS = (80, 443, 9443, 6379)
# Levels of each published book: what a paper bot's fills walk.
BOOK_DEPTH = 20
# Closed candles kept per symbol and timeframe: a bot's warm-up history (its historyBars).
HISTORY_BARS = 1200


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketSet:
    """What one market type's workload publishes: its symbols and their timeframes."""

    market: str
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]


def market_sets(bots: Sequence[tuple[str, str, str]]) -> list[MarketSet]:
    """One :class:`MarketSet` per market type of ``bots`` (``(market, symbol, timeframe)``)."""
    by_market: dict[str, tuple[set[str], set[str]]] = {}
    for market, symbol, timeframe in bots:
        symbols, timeframes = by_market.setdefault(market, (set(), set()))
        symbols.add(symbol)
        timeframes.add(timeframe)
    return [
        MarketSet(market=market, symbols=tuple(sorted(s)), timeframes=tuple(sorted(t)))
        for market, (s, t) in sorted(by_market.items())
    ]


def market_workload_name(*, account: str, market: str) -> str:
    return child_name(owner=account, suffix=f"market-{market}")


def render_market_children(
    *,
    owner: Owner,
    exchange: str,
    market: MarketSet,
    request_interval_ms: int,
    poll_interval_ms: int,
    settings: OperatorSettings,
) -> list[dict[str, Any]]:
    """One market type's workload: its ConfigMap, Deployment and NetworkPolicy."""
    config = {
        "apiVersion": API_VERSION,
        "kind": "MarketDataConfig",
        "exchange": {
            "id": exchange,
            "market": market.market,
            "baseUrl": settings.exchange_urls.get(exchange),
            "requestIntervalMs": request_interval_ms,
        },
        "symbols": list(market.symbols),
        "timeframes": list(market.timeframes),
        "pollIntervalMs": poll_interval_ms,
        "depth": BOOK_DEPTH,
        "historyBars": HISTORY_BARS,
        "redis": {
            "url": settings.redis_url,
            "keyPrefix": market_key_prefix(
                namespace=owner.namespace, account=owner.name, market=market.market
            ),
        },
        "api": {"port": settings.runtime_port},
    }
    return _workload(owner=owner, market=market.market, config=config, settings=settings)


def _workload(
    *, owner: Owner, market: str, config: Mapping[str, Any], settings: OperatorSettings
) -> list[dict[str, Any]]:
    name = market_workload_name(account=owner.name, market=market)
    labels = {**account_labels(account=owner.name), LABEL_MARKET: market}
    selector = {LABEL_ACCOUNT: owner.name, LABEL_MARKET: market}
    config_hash = content_hash(config)
    container = {
        "name": "market-data",
        "image": settings.runtime_image,
        "command": [*settings.runtime_command, "market-data"],
        "env": [
            {"name": "TRADEFLEET_CONFIG", "value": f"{CONFIG_MOUNT}/{CONFIG_FILE}"},
            {
                "name": "TRADEFLEET_LISTEN_HOST",
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            },
            *redis_env(owner=owner, settings=settings),
            *({"name": k, "value": v} for k, v in sorted(settings.runtime_env.items())),
        ],
        "ports": [{"name": "http", "containerPort": settings.runtime_port, "protocol": "TCP"}],
        # Ready once every symbol is published; alive while it serves at all (an exchange
        # outage is not cured by a restart).
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
        },
        "resources": container_resources(None),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}],
    }
    return [
        config_map_of(
            owner=owner,
            name=name,
            labels=labels,
            annotations={ANNOTATION_CONFIG_HASH: config_hash},
            config=config,
        ),
        single_pod_deployment(
            owner=owner,
            name=name,
            labels=labels,
            selector=selector,
            config_hash=config_hash,
            container=container,
            volumes=[{"name": "config", "configMap": {"name": name}}],
            settings=settings,
        ),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": network_policy_spec(
                selector=selector, port=settings.runtime_port, egress_ports=MARKET_EGRESS_PORTS
            ),
        },
    ]
