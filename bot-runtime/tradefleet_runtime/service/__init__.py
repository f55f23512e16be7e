"""The bot runtime service and the SignalSource workload: one asyncio process each.

``python -m tradefleet_runtime`` runs :class:`~tradefleet_runtime.service.bot.BotService`
(market data → signals → fusion → risk → execution, with its FastAPI app served by uvicorn in
the same event loop); ``python -m tradefleet_runtime signal-source`` runs
:class:`~tradefleet_runtime.sources.service.SourceService`. Import the submodules directly.
"""
