"""Hot reload of the runtime's config file: notice a change, check it, hand it over or refuse it.

Used by :class:`~tradefleet_runtime.service.bot.BotService`'s config loop. A changed file is
parsed and checked (a change that needs a restart — a new revision — is refused, as is anything
that does not parse); the running config stays in force until ``apply`` accepts the new one.
A refusal is recorded in the healing log and kept in :attr:`ConfigWatch.refused` for the API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from tradefleet_runtime.config import (
    RuntimeConfig,
    load_runtime_config,
    restart_only_changes,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.service.healing import HealingAction, HealingCause, HealingLog
from tradefleet_runtime.signals.errors import SignalError

LOG = logging.getLogger("tradefleet_runtime.bot")


class ConfigWatch:
    """The config file's last seen stamp, and the reason the last change was refused."""

    def __init__(self, *, path: Path | None, healing: HealingLog) -> None:
        self.refused: dict[str, object] | None = None
        self._path = path
        self._healing = healing
        self._stamp = self._stat()

    def _stat(self) -> tuple[float, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def changed(self) -> bool:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def reload(self, *, running: RuntimeConfig, apply: Callable[[RuntimeConfig], None]) -> bool:
        """Load the file and ``apply`` it if it may be applied without a restart."""
        assert self._path is not None
        try:
            new = load_runtime_config(self._path)
            if new.config_hash == running.config_hash:
                return False
            blocked = restart_only_changes(old=running, new=new)
            if blocked:
                raise ConfigError(
                    f"{', '.join(blocked)} changed: this needs a restart (a new revision)"
                )
            apply(new)
        except (ConfigError, SignalError) as error:
            self.refused = {"at": time.time(), "reason": str(error)}
            self._healing.record(
                error_class=HealingCause.CONFIG,
                action=HealingAction.REFUSE_CONFIG,
                component="config",
                message=f"config change refused, running {running.config_hash}: {error}",
            )
            LOG.error("config change refused: %s", error)
            return False
        LOG.info("config reloaded: %s → %s", running.config_hash, new.config_hash)
        self.refused = None
        self._healing.set_component(
            component="config", healthy=True, detail=f"running {new.config_hash}"
        )
        return True
