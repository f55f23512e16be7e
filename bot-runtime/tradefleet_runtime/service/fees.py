"""Fees of the bot's own orders on venues that report fees on trades only (Binance's).

An order that ends without its fee is left in ``Account.fees_unpriced``; the bot service's
account step calls :meth:`FeeLookup.run` after the order path's work (never between an entry
and its stop), which asks the venue for the order's trades, books the fee and saves the fees
with the lookups still due. A fee that cannot be known (charged in a third currency, or no
trades after ``FEE_LOOKUPS`` tries) is counted 0, with a warning.
"""

from __future__ import annotations

import logging

from tradefleet_runtime.execution.errors import ExchangeError
from tradefleet_runtime.execution.venue import Venue
from tradefleet_runtime.service.account import Account
from tradefleet_runtime.service.store_access import GuardedStore

LOG = logging.getLogger("tradefleet_runtime.bot")
# Look-ups per order before its fee is given up: its trades may show a moment after it ends.
FEE_LOOKUPS = 5


class FeeLookup:
    """Books the fees the bot's ended orders did not carry."""

    def __init__(self, *, account: Account, guarded: GuardedStore) -> None:
        self._account = account
        self._guarded = guarded
        self._tries: dict[str, int] = {}

    async def run(self, *, venue: Venue) -> None:
        account = self._account
        if not account.fees_unpriced:
            return
        priced = False
        for order_id, symbol in list(account.fees_unpriced.items()):
            tries = self._tries[order_id] = self._tries.get(order_id, 0) + 1
            try:
                fee = await venue.fetch_order_fee(symbol=symbol, exchange_order_id=order_id)
            except ExchangeError as error:
                LOG.info("looking up the fee of order %s: %s", order_id, error)
                fee = None
            if fee is not None or tries >= FEE_LOOKUPS:
                account.price_fee(exchange_order_id=order_id, fee=fee)
                self._tries.pop(order_id, None)
                priced = True
        if not priced:
            # Nothing to save: the fees and the look-ups due are as stored.
            return
        store = self._guarded.store
        fees = account.fees()
        await self._guarded.call(
            lambda: store.record_orders(orders=[], fees=fees), what="recording looked-up fees"
        )
