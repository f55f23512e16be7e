"""Whale sources read a whale-transaction JSON API and classify flows by exchange-address lists.

The API answers transactions with ``from``/``to`` objects (address, owner, owner_type), as
public whale-alert APIs do; a transfer onto an exchange — an address on the source's configured
lists, or one the API marks as an exchange — is selling pressure, off an exchange buying. An
error answer, a malformed or late one is a classified problem and the transfers already seen
still count.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.feed_server import Route, feed_server
from tradefleet_runtime.signals.whale import parse_transfer_document
from tradefleet_runtime.sources.engines import WhaleEngine

pytestmark = pytest.mark.unit

NOW_S = int(datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp())
BINANCE_HOT = "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo"
KRAKEN_ETH = "0x2910543af39aba0cd09dbb2d50200b3e800a63d2"


def _tx(
    *, tx: str, coin: str, amount: float, usd: float, frm: dict[str, str], to: dict[str, str],
    ago_s: int,
) -> dict[str, object]:  # fmt: skip
    return {
        "blockchain": "bitcoin" if coin == "btc" else "ethereum",
        "symbol": coin, "id": tx, "transaction_type": "transfer", "hash": tx,
        "from": frm, "to": to, "timestamp": NOW_S - ago_s, "amount": amount,
        "amount_usd": usd, "transaction_count": 1,
    }  # fmt: skip


API_ANSWER = json.dumps(
    {
        "result": "success",
        "cursor": "2bc7e46-2bc7e46-5c66c0a7",
        "count": 4,
        "transactions": [
            # Onto Binance's hot wallet (on the configured list; the API does not know it).
            _tx(
                tx="a1",
                coin="btc",
                amount=250,
                usd=24_250_000,
                frm={
                    "address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
                    "owner_type": "unknown",
                },
                to={"address": BINANCE_HOT, "owner_type": "unknown"},
                ago_s=1800,
            ),
            # Onto an exchange the API names (not on the list).
            _tx(
                tx="a2",
                coin="btc",
                amount=40,
                usd=3_880_000,
                frm={
                    "address": "bc1qa5wkgaew2dkv56kfvj49j0av5nml45x9ek9hz6",
                    "owner_type": "unknown",
                },
                to={
                    "address": "3FupZp77ySr7jwoLYEJ9mwzJpvoNBXsBnE",
                    "owner": "coinbase",
                    "owner_type": "exchange",
                },
                ago_s=900,
            ),
            # Off Kraken (on the list, written in another case).
            _tx(
                tx="a3",
                coin="eth",
                amount=12_000,
                usd=42_000_000,
                frm={"address": KRAKEN_ETH.upper().replace("0X", "0x"), "owner_type": "unknown"},
                to={
                    "address": "0x8d12a197cb00d4747a1fe03395095ce2a5cc6819",
                    "owner_type": "unknown",
                },
                ago_s=600,
            ),
            # Between two unknown wallets: no exchange flow.
            _tx(
                tx="a4",
                coin="eth",
                amount=9_000,
                usd=31_500_000,
                frm={"address": "0xabc", "owner_type": "unknown"},
                to={"address": "0xdef", "owner_type": "unknown"},
                ago_s=300,
            ),
        ],
    }
).encode()
SPEC = {
    "exchangeAddresses": [
        {"exchange": "binance", "addresses": [BINANCE_HOT]},
        {"exchange": "kraken", "addresses": [KRAKEN_ETH]},
    ]
}


def test_api_transactions_become_transfers_with_the_apis_exchange_marks() -> None:
    transfers = parse_transfer_document(API_ANSWER)
    assert [
        (t.tx_hash, t.coin, t.usd_value, t.timestamp_ms, t.from_exchange, t.to_exchange)
        for t in transfers
    ] == [
        ("a1", "BTC", 24_250_000.0, (NOW_S - 1800) * 1000, False, False),
        ("a2", "BTC", 3_880_000.0, (NOW_S - 900) * 1000, False, True),
        ("a3", "ETH", 42_000_000.0, (NOW_S - 600) * 1000, False, False),
        ("a4", "ETH", 31_500_000.0, (NOW_S - 300) * 1000, False, False),
    ]


async def test_flows_onto_listed_or_marked_exchanges_are_bearish_and_off_them_bullish(
    tmp_path: Path,
) -> None:
    (tmp_path / "X-WA-API-KEY").write_text("wa-key-from-secret\n")
    routes = {"/v1/transactions": Route(body=API_ANSWER, content_type="application/json")}
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = WhaleEngine(
            spec={**SPEC, "feedUrl": server.url("/v1/transactions"),
                  "headersSecretRef": {"name": "whale-api"}},
            redis=None,  # type: ignore[arg-type]
            client=client,
            headers_dir=str(tmp_path),
        )  # fmt: skip
        readings = {
            r.symbol: r
            for r in await engine.readings(symbols=["BTC/USDT", "ETH/USDT"], now_ms=NOW_S * 1000)
        }
    assert readings["BTC/USDT"].value < -0.9  # 28.1 M USD onto exchanges
    assert readings["ETH/USDT"].value > 0.9  # 42 M USD off Kraken
    assert readings["BTC/USDT"].confidence == pytest.approx(2 / 5)
    assert readings["ETH/USDT"].confidence == pytest.approx(1 / 5)
    assert engine.problems() == []
    assert server.requests[0].headers["x-wa-api-key"] == "wa-key-from-secret"


async def test_error_malformed_and_late_answers_are_problems_and_seen_transfers_stay() -> None:
    routes = {"/v1/transactions": Route(body=API_ANSWER, content_type="application/json")}
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = WhaleEngine(
            spec={**SPEC, "feedUrl": server.url("/v1/transactions")},
            redis=None,  # type: ignore[arg-type]
            client=client,
            feed_timeout_s=0.5,
        )
        await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_S * 1000)
        answers = {
            "error": Route(body=b'{"result": "error", "message": "invalid api_key"}',
                           content_type="application/json", status=200),
            "malformed": Route(body=API_ANSWER[:200], content_type="application/json"),
            "timeout": Route(body=API_ANSWER, delay_s=2.0, content_type="application/json"),
        }  # fmt: skip
        seen = {}
        for kind, route in answers.items():
            server.routes["/v1/transactions"] = route
            (reading,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_S * 1000)
            seen[kind] = (reading.value < -0.9, engine.problems())
    assert seen["error"] == (
        True,
        [f"{server.url('/v1/transactions')}: error answer: invalid api_key"],
    )
    assert seen["malformed"][0] and seen["malformed"][1][0].split(": ")[1] == "malformed"
    assert seen["timeout"][0] and seen["timeout"][1][0].split(": ")[1] == "timeout"
