"""Errors of the real node (:mod:`tradefleet_devtools.realnode`).

Raised by every module of the package; the stack (:mod:`tradefleet_devtools.stack`) catches
:class:`RealNodeUnavailableError` to fall back to the dev node agent when the node kind is ``auto``.
"""

from __future__ import annotations


class RealNodeError(RuntimeError):
    """A part of the real node failed; the message says which and quotes its log or error."""


class RealNodeUnavailableError(RealNodeError):
    """This machine cannot run a real node (not root, no cgroup v1, a piece not built): the message
    names what is missing and how to get it."""
