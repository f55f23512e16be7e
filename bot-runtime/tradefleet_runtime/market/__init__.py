"""Market data for the bot runtime and its research tools.

``synthetic`` generates labelled, seeded markets (OHLCV bars with known regimes and an
L1 book with known order flow) for tests, benchmarks and backtest demos.
"""
