"""SignalSources: the shared producers of sentiment, macro, whale and HTTP signals, and how bots
read them.

A SignalSource workload (``python -m tradefleet_runtime signal-source``) runs
:class:`~tradefleet_runtime.sources.service.SourceService`, which computes readings with
:mod:`~tradefleet_runtime.sources.engines` and appends them to its Redis stream in the format of
:mod:`~tradefleet_runtime.sources.stream`; a bot reads the latest reading of every source it
references with :class:`~tradefleet_runtime.sources.reader.SourceReader`. Import the submodules
directly.
"""
