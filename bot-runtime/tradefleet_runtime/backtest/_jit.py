"""Marks plain scalar functions as callable from numba-compiled kernels too.

Imported by the backtest modules whose arithmetic the grid engine compiles (fills,
metrics, the strategy plugins' indicator steps and EMA/RSI rule). A marked function
stays an ordinary Python function when Python calls it, and numba compiles the same
source into a kernel that calls it — one implementation for both engines. The strategy
plugins themselves never import numba (the live runtime image does not ship it), so
their functions are marked here.

Numba's on-disk cache (``cache=True``) is keyed on the kernel's own source file: after
editing a marked function, delete the ``__pycache__/*.nbi``/``*.nbc`` files of the
backtest package so the kernels are recompiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba.extending import register_jitable

from tradefleet_runtime.strategies.ema_rsi import ema_rsi_rule
from tradefleet_runtime.strategies.indicators import ema_alpha, ema_step, rsi_value, wilder_step

Function = TypeVar("Function", bound=Callable[..., object])


def jitable(function: Function) -> Function:
    """Let numba kernels call ``function``; Python callers still get the plain function."""
    register_jitable(function)
    return function


for _shared in (ema_alpha, ema_step, wilder_step, rsi_value, ema_rsi_rule):
    jitable(_shared)
