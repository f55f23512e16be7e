"""Tradefleet operator: reconciles TradingBot and SignalSource resources into region-pinned workloads.

Started by ``python -m tradefleet_operator`` (the operator image's entry point).
"""
