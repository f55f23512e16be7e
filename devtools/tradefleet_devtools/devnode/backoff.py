"""When an exited container starts again: restartPolicy and the kubelet's crash-loop backoff.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`). Pure.

The kubelet restarts a container the first time it exits straight away, then waits
``base``, ``2·base``, ``4·base`` … up to ``max`` after each further exit (10 s … 5 min by
default),
showing ``CrashLoopBackOff`` meanwhile. A container that ran for ``reset_after`` before exiting
starts the sequence again.
"""

from __future__ import annotations

from dataclasses import dataclass


def restart_wanted(*, restart_policy: str, exit_code: int) -> bool:
    """Whether restartPolicy asks for another run after this exit code."""
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartDelay:
    delay_s: float
    """How long after the exit the container starts again."""
    next_backoff_s: float
    """The backoff the following exit will wait (kept in the container's record)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BackoffPolicy:
    base_s: float
    max_s: float
    reset_after_s: float

    def after_exit(self, *, backoff_s: float | None, ran_for_s: float) -> RestartDelay:
        """The delay before the next start; ``backoff_s`` is None if the container never crashed."""
        if backoff_s is None or ran_for_s >= self.reset_after_s:
            return RestartDelay(delay_s=0.0, next_backoff_s=min(self.base_s, self.max_s))
        return RestartDelay(delay_s=backoff_s, next_backoff_s=min(backoff_s * 2, self.max_s))
