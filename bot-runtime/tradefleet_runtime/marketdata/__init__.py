"""Market data of the bot runtime: book ticks and bars, their validation, and where they come from.

The decision loop (:mod:`tradefleet_runtime.service.bot`) polls a
:class:`~tradefleet_runtime.marketdata.feeds.MarketFeed` (REST polling through the venue, a
CSV/JSONL replay, or the synthetic generator) and passes every tick through
:class:`~tradefleet_runtime.marketdata.ticks.TickValidator` before it reaches the signals.
Import the submodules directly.
"""
