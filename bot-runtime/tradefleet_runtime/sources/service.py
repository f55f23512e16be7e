"""The SignalSource workload: poll feeds every ``intervalSeconds`` and publish readings to Redis.

Run by ``python -m tradefleet_runtime signal-source``. Each round computes one reading per
symbol with the kind's engine (:mod:`tradefleet_runtime.sources.engines`) and appends it with
``XADD <stream> MAXLEN ~ 1000`` in the format of :mod:`tradefleet_runtime.sources.stream`.
A failing feed or an unreachable Redis is reported (``/status``, ``/readyz``, metrics), retried
next round, and never ends the process. API: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from redis.exceptions import RedisError

from tradefleet_runtime.config import SourceConfig
from tradefleet_runtime.persistence.store import RedisLogin, redis_client
from tradefleet_runtime.sources.engines import build_engine
from tradefleet_runtime.sources.stream import STREAM_MAXLEN, SourceReading

LOG = logging.getLogger("tradefleet_runtime.source")
SOURCE_LABELS = ("source", "namespace", "kind")


class SourceService:
    """One SignalSource: its engine, its publishing loop and what its API shows."""

    def __init__(self, *, config: SourceConfig, login: RedisLogin | None) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.redis: aioredis.Redis = redis_client(url=config.redis_url, login=login, timeout_s=2.0)
        self._client = httpx.AsyncClient()
        self.engine = build_engine(config=config, redis=self.redis, client=self._client)
        self.heartbeat = time.time()
        self.last_published: float | None = None
        self.last_values: dict[str, dict[str, object]] = {}
        self.last_error: str | None = None
        self.registry = CollectorRegistry()
        labels = {"source": config.name, "namespace": config.namespace, "kind": config.kind}
        self._labels = labels
        self._publishes = Counter(
            "tradefleet_source_publishes_total",
            "Publishing rounds by result",
            [*SOURCE_LABELS, "result"],
            registry=self.registry,
        )
        self._last = Gauge(
            "tradefleet_source_last_publish_timestamp_seconds",
            "Unix time of the last successful publish",
            SOURCE_LABELS,
            registry=self.registry,
        )
        self._value = Gauge(
            "tradefleet_source_value",
            "Latest published value in [-1, 1]",
            [*SOURCE_LABELS, "symbol"],
            registry=self.registry,
        )

    @property
    def ready(self) -> bool:
        if self.config.paused:
            return True
        return self.last_published is not None and (
            time.time() - self.last_published <= 3 * self.config.interval_s + 30
        )

    def status(self) -> dict[str, object]:
        return {
            "source": self.config.name,
            "namespace": self.config.namespace,
            "kind": self.config.kind,
            "stream": self.config.stream,
            "paused": self.config.paused,
            "lastPublished": self.last_published,
            "lastValues": self.last_values,
            "lastError": self.last_error,
            "problems": self.engine.problems(),
            "heartbeat": self.heartbeat,
            "configHash": self.config.config_hash,
        }

    async def publish_once(self) -> list[SourceReading]:
        """One round: compute and append a reading per symbol."""
        now_ms = int(time.time() * 1000)
        readings = await self.engine.readings(symbols=self.config.symbols, now_ms=now_ms)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for reading in readings:
                    pipe.xadd(
                        self.config.stream,
                        reading.to_fields(),  # type: ignore[arg-type]
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
        except (RedisError, OSError) as error:
            self.last_error = f"Redis: {error}"
            self._publishes.labels(**self._labels, result="error").inc()
            LOG.warning("publishing to %s failed: %s", self.config.stream, error)
            return []
        if readings:
            self.last_published = time.time()
            self._last.labels(**self._labels).set(self.last_published)
        for reading in readings:
            self.last_values[reading.symbol] = reading.to_dict()
            self._value.labels(**self._labels, symbol=reading.symbol).set(reading.value)
        self.last_error = "; ".join(self.engine.problems()) or None
        self._publishes.labels(**self._labels, result="ok" if readings else "empty").inc()
        return readings

    async def loop(self) -> None:
        while not self.stop_event.is_set():
            self.heartbeat = time.time()
            if not self.config.paused:
                await self.publish_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=self.config.interval_s)

    async def run(self, *, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
        server = asyncio.create_task(serve(), name="api")
        worker = asyncio.create_task(self.loop(), name="publish")
        try:
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await asyncio.wait_for(server, timeout=10)
            await self._client.aclose()
            await self.redis.aclose()


def build_source_app(service: SourceService) -> FastAPI:
    app = FastAPI(title="Tradefleet signal source", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        age = time.time() - service.heartbeat
        alive = age <= 2 * service.config.interval_s + 30
        return JSONResponse(
            {"status": "ok" if alive else "stale"}, status_code=200 if alive else 503
        )

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse(
            {"ready": service.ready, "lastError": service.last_error},
            status_code=200 if service.ready else 503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(content=generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    async def status() -> JSONResponse:
        return JSONResponse(service.status())

    return app
