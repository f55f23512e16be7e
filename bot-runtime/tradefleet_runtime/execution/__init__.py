"""Order execution for one bot: venues (ccxt, paper), idempotent placement, reconciliation.

The runtime builds a ``Venue`` for the bot's mode (``PaperVenue`` over a market-data
``CcxtVenue`` for ``paper``, ``CcxtVenue`` for ``testnet`` / ``live``), wraps it in an
``OrderExecutor`` and sends every order through it with a deterministic client order id
from ``client_order_id``. Errors surface as ``tradefleet_runtime.execution.errors`` classes.
"""
