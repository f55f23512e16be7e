"""Market data of the bot runtime: book ticks and bars, their validation, and where they come from.

The decision loop (:mod:`tradefleet_runtime.service.bot`) polls a
:class:`~tradefleet_runtime.marketdata.feeds.MarketFeed` (REST polling through the venue, a
CSV/JSONL replay, the synthetic generator, or what a market-data publisher shares in Redis:
:mod:`~tradefleet_runtime.marketdata.shared`) and passes every tick through
:class:`~tradefleet_runtime.marketdata.ticks.TickValidator` before it reaches the signals.
:mod:`~tradefleet_runtime.marketdata.synthetic` generates labelled, seeded markets (OHLCV bars
with known regimes and an L1 book with known order flow) for the synthetic feed, tests,
benchmarks and backtest demos; :mod:`~tradefleet_runtime.marketdata.regime_markets` labelled
markets of other constructions (fat tails, clustered volatility, jumps) that regime detection is
also scored on. Import the submodules directly.
"""
