"""The dev node agent's exception hierarchy.

Raised by the modules of :mod:`tradefleet_devtools.devnode`; the agent turns :class:`PodConfigError`
into a waiting reason in the pod's status (a weird pod spec never crashes the agent) and
:class:`AgentConfigError` into a one-line error at start-up.
"""

from __future__ import annotations


class DevNodeError(RuntimeError):
    """Base class of every error the dev node agent raises."""


class AgentConfigError(DevNodeError):
    """The agent's own settings (flags, state dir, pod network) are unusable."""


class AgentStartError(DevNodeError):
    """The agent subprocess did not come up; the message quotes the tail of its log."""


class KubeApiError(DevNodeError):
    """The Kubernetes API answered with an error status or could not be reached (status 0)."""

    def __init__(self, *, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class PodConfigError(DevNodeError):
    """A pod (or one of its containers) cannot be run as specified.

    ``reason`` is the CamelCase waiting reason shown by ``kubectl get pods`` (the kubelet's own
    reasons where one fits, e.g. ``CreateContainerConfigError``); ``message`` says what to fix.
    """

    def __init__(self, *, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
