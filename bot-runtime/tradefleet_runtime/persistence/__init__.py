"""Durable state of one bot in Redis: tracked orders, position, balances, risk state, flags, history,
and in paper mode the simulated account itself.

:class:`~tradefleet_runtime.persistence.store.StateStore` is used by the bot service; the key
layout is documented in ``docs/runtime-api.md``. Import the submodules directly.
"""
