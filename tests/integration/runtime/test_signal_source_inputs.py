"""From the operator's render to Redis: a SignalSource's Secret and ConfigMap references are used.

The operator renders a source (ConfigMap, Deployment); the test plays the kubelet — it writes the
ConfigMap's config where the pod mounts it, resolves ``secretKeyRef`` env vars from Secrets and
puts the mounted Secret's and ConfigMap's keys in directories at the rendered paths — and runs the
source workload against a real redis-server and a local HTTP server: the LLM sees the Secret's
key, the http source sends the header Secret and fills ``{symbol}``, the macro source reads the
events ConfigMap's calendar, and each publishes a confident reading.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from support.feed_server import Route, feed_server
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_operator.render import CONFIG_FILE, Owner
from tradefleet_operator.render_source import render_source_children
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_signal_source_spec
from tradefleet_runtime.config import parse_source_config
from tradefleet_runtime.sources.service import SourceService

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "unit" / "signals" / "fixtures"
SECRETS = {
    "llm": {"apiKey": "sk-delivered-7f3a"},
    "score-headers": {"Authorization": "Bearer score-token", "X-Client": "tradefleet"},
}


def _fresh_rss() -> bytes:
    """The fixture feed, its dates moved to the last hour (the source scores at wall-clock time)."""
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    text = (FIXTURES / "news_rss2.xml").read_text()
    for old in ("Sat, 05 Dec 2026 01:30:00 GMT", "Sat, 05 Dec 2026 00:45:00 +0000",
                "Sat, 05 Dec 2026 01:00:00 GMT"):  # fmt: skip
        text = text.replace(old, now)
    return text.encode()


def _fresh_calendar() -> bytes:
    """A JSON calendar whose payrolls beat and unemployment drop were released 10 minutes ago."""
    released = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 600, UTC).isoformat()
    events = json.loads((FIXTURES / "econ_calendar.json").read_text())["events"][:2]
    return json.dumps({"events": [{**e, "time": released} for e in events]}).encode()


def _kubelet(
    *, children: list[dict[str, Any]], root: Path, config_maps: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:  # fmt: skip
    """Do what the kubelet does for the rendered pod; returns the config file's path."""
    config_map = next(c for c in children if c["kind"] == "ConfigMap")
    config = root / CONFIG_FILE
    config.write_text(config_map["data"][CONFIG_FILE])
    pod = next(c for c in children if c["kind"] == "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    paths: dict[str, str] = {}
    for mount in pod["containers"][0]["volumeMounts"][1:]:
        volume = volumes[mount["name"]]
        data = (
            SECRETS[volume["secret"]["secretName"]]
            if "secret" in volume
            else config_maps[volume["configMap"]["name"]]
        )
        directory = root / mount["name"]
        directory.mkdir()
        for key, value in data.items():
            (directory / key).write_text(value)
        paths[mount["mountPath"]] = str(directory)
    for env in pod["containers"][0]["env"]:
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            monkeypatch.setenv(env["name"], SECRETS[ref["name"]][ref["key"]])
        elif env.get("value") in paths:
            monkeypatch.setenv(env["name"], paths[env["value"]])
    return config


async def test_rendered_sources_publish_from_their_secrets_and_config_maps(
    tmp_path: Path, redis_server: RedisAccess, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = {"scores": [0.8, 0.2]}
    routes = {
        "/rss": Route(body=_fresh_rss(), content_type="application/rss+xml"),
        "/v1/chat/completions": Route(
            body=json.dumps({"choices": [{"message": {"content": json.dumps(chat)}}]}).encode(),
            content_type="application/json",
        ),
        "/score/BTC%2FUSDT": Route(body=b'{"score": 0.4}', content_type="application/json"),
    }
    settings = OperatorSettings(region="ap-northeast-1", redis_url=redis_server.url)
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with feed_server(routes) as server:
        specs = {
            "sentiment": {"feeds": [{"url": server.url("/rss")}],
                          "llm": {"enabled": True, "endpoint": server.url(""), "model": "m",
                                  "apiKeySecretRef": {"name": "llm"}}},
            "http": {"url": server.url("/score/{symbol}"), "jsonPath": "$.score",
                     "headersSecretRef": {"name": "score-headers"}},
            "macro": {"eventsConfigMap": "release-calendar"},
        }  # fmt: skip
        published = {}
        for kind, block in specs.items():
            name = f"{kind}-{uuid.uuid4().hex[:6]}"
            raw = {"kind": kind, "symbols": ["BTC/USDT"], kind: block}
            children = render_source_children(
                owner=Owner(kind="SignalSource", name=name, namespace="it", uid=name),
                spec=parse_signal_source_spec(raw),
                raw_spec=raw,
                settings=settings,
            )
            root = tmp_path / name
            root.mkdir()
            config = _kubelet(
                children=children, root=root, monkeypatch=monkeypatch,
                config_maps={"release-calendar": {"calendar.json": _fresh_calendar().decode()}},
            )  # fmt: skip
            service = SourceService(
                config=parse_source_config(json.loads(config.read_text())), login=None
            )
            try:
                (reading,) = await service.publish_once()
                entries = await client.xrange(service.config.stream)
                published[kind] = (reading, service.engine.problems(), len(entries))
            finally:
                await client.delete(service.config.stream)
                await service.redis.aclose()
    await client.aclose()
    (llm_call,) = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert llm_call.headers["authorization"] == "Bearer sk-delivered-7f3a"
    (score_call,) = [r for r in server.requests if r.path.startswith("/score/")]
    assert score_call.headers["authorization"] == "Bearer score-token"
    assert score_call.headers["x-client"] == "tradefleet"
    sentiment, http, macro = published["sentiment"], published["http"], published["macro"]
    assert sentiment[0].value > 0.3 and sentiment[0].confidence > 0 and sentiment[2] == 1
    assert http[0].value == 0.4 and http[1] == [] and http[2] == 1
    assert macro[0].value > 0.3 and macro[0].confidence > 0.5 and macro[1] == [] and macro[2] == 1
