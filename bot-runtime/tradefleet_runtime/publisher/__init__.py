"""The market-data publisher: one process per exchange that fetches every symbol's order book
and candles once and publishes them to Redis, where the bots of that exchange read them
(``marketData.source: shared``).

``python -m tradefleet_runtime market-data`` parses
:mod:`~tradefleet_runtime.publisher.config` and runs
:class:`~tradefleet_runtime.publisher.service.MarketDataPublisher`; the Redis keys and their
formats are :mod:`tradefleet_runtime.marketdata.shared`'s. Import the submodules directly.
"""
