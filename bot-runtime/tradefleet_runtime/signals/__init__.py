"""Signal engines of the bot runtime: regime, order flow, whales, sentiment, macro, ML, fusion.

Pure computation plus small feed clients; no Kubernetes. The live runtime and the
backtester use the same classes. Each engine has a frozen ``*Config`` (validated,
raising :class:`~tradefleet_runtime.signals.errors.SignalConfigError`), a result
dataclass with ``to_dict()`` for the REST API and ``as_reading()`` giving the
normalised :class:`~tradefleet_runtime.signals.reading.SignalReading` that
:mod:`~tradefleet_runtime.signals.fusion` combines. Import the submodules directly;
this package imports nothing heavy on its own.
"""
