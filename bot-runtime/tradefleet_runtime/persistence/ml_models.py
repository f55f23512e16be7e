"""A bot's ML ensemble in Redis: trained by its optimizer Job, loaded by its runtime.

Keys under the bot's prefix ``<p>`` (``redis.keyPrefix``): ``<p>:ml:model`` (the ensemble as
:func:`~tradefleet_runtime.signals.ml_ensemble.encode_ensemble` writes it), ``<p>:ml:meta``
(its metadata, JSON) and ``<p>:ml:version`` (the last version given out). A new model and its
metadata are written in one MULTI/EXEC, so a reader never pairs a model with another's metadata.

:mod:`tradefleet_runtime.jobs.optimize` saves (:meth:`MlModelStore.save`);
:mod:`tradefleet_runtime.service.ml_signal` reads the metadata after each closed bar
(:meth:`MlModelStore.metadata`, one GET) and the model only when its version changed
(:meth:`MlModelStore.load`). Both log in as the bot's Redis user, whose ACL reaches the bot's own
keys only: the runtime unpickles what its own Job wrote, after checking its digest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.persistence.store import StateStoreError
from tradefleet_runtime.signals.errors import ModelStoreError
from tradefleet_runtime.signals.ml_ensemble import (
    MlConfig,
    StoredEnsemble,
    TrainedEnsemble,
    decode_ensemble,
    encode_ensemble,
)


class MlModelStore:
    """The ensemble keys of one bot."""

    def __init__(self, *, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._model_key = f"{prefix}:ml:model"
        self._metadata_key = f"{prefix}:ml:meta"
        self._version_key = f"{prefix}:ml:version"

    async def save(self, *, ensemble: TrainedEnsemble, trained_by: str) -> int:
        """Store ``ensemble`` as the next version; returns that version."""
        try:
            version = int(await self._redis.incr(self._version_key))
            metadata, model = encode_ensemble(
                ensemble=ensemble, version=version, trained_by=trained_by
            )
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._model_key, model)
                pipe.set(self._metadata_key, json.dumps(metadata, sort_keys=True))
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise StateStoreError(f"cannot store the ML ensemble: {error}") from None
        return version

    async def metadata(self) -> Mapping[str, object] | None:
        """The stored model's metadata; None when no model was stored yet."""
        try:
            raw = await self._redis.get(self._metadata_key)
        except (RedisError, OSError) as error:
            raise StateStoreError(f"cannot read the ML ensemble's metadata: {error}") from None
        if raw is None:
            return None
        try:
            metadata = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ModelStoreError(f"{self._metadata_key} is not JSON: {error}") from None
        if not isinstance(metadata, dict):
            raise ModelStoreError(f"{self._metadata_key} is not a JSON object")
        return metadata

    async def load(self, *, config: MlConfig) -> StoredEnsemble:
        """The stored ensemble, checked against ``config`` (ModelStoreError if refused)."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._metadata_key)
                pipe.get(self._model_key)
                raw_metadata, model = await pipe.execute()
        except (RedisError, OSError) as error:
            raise StateStoreError(f"cannot read the ML ensemble: {error}") from None
        if raw_metadata is None or model is None:
            raise ModelStoreError(f"no ML ensemble stored at {self._model_key}")
        try:
            metadata = json.loads(raw_metadata)
        except json.JSONDecodeError as error:
            raise ModelStoreError(f"{self._metadata_key} is not JSON: {error}") from None
        return decode_ensemble(metadata=metadata, model=model, config=config)
