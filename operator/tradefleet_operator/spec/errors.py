"""Errors raised by the spec package.

Raised by ``parse_trading_bot_spec`` / ``parse_signal_source_spec`` (malformed input the
apiserver would have refused) and by ``resolve_region`` (an exchange with no region);
caught by the operator's handlers, which report them as status conditions.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A spec dict that does not have the shape of the CRD schema.

    The apiserver never stores such an object; this is raised only for raw dicts (tests,
    tools) or a CRD/operator version mismatch. ``field`` is the dotted path of the
    offending field (``spec.risk.kellyFraction``).
    """

    def __init__(self, *, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RegionUnresolvedError(LookupError):
    """``region: auto`` on a bot whose exchange is missing from the exchange-to-region map."""

    def __init__(self, *, exchange: str) -> None:
        super().__init__(
            f"no region is mapped for exchange {exchange!r}: add it to the operator's "
            "exchange-to-region map or set spec.region explicitly"
        )
        self.exchange = exchange
