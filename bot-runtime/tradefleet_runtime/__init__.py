"""Tradefleet bot runtime: signals, fusion, risk and execution for one bot, plus the research tools.

Started by ``python -m tradefleet_runtime`` inside each bot pod; imported by the backtester and benchmarks.
"""
