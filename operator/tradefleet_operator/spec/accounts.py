"""Bots that would share one exchange position: the same symbol on the same exchange account.

An exchange account is what a bot's keys open: the same exchange, mode and credentials Secret is
one account. Two bots on one symbol of one account would net into a single exchange position
(and, on spot, one balance of the base asset) that neither could tell apart: each would adopt,
protect and close the other's. The operator's TradingBot index keys bots by
:func:`account_market_of`; the reconciler refuses every bot but the first created
(:func:`shared_market_problem`). Paper bots each have their own simulated account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tradefleet_operator.spec.validation import ProblemReason, ValidationProblem


def _secret_of(spec: Mapping[str, object]) -> object:
    credentials = spec.get("credentials")
    secret_ref = credentials.get("secretRef") if isinstance(credentials, Mapping) else None
    return secret_ref.get("name") if isinstance(secret_ref, Mapping) else None


def account_market_of(raw_spec: Mapping[str, object]) -> str | None:
    """The account and symbol a bot trades, as one key; None for a paper bot or one without
    keys (it has an account of its own). Read from the raw spec, so an invalid one still has
    its key."""
    mode = raw_spec.get("mode")
    secret = _secret_of(raw_spec)
    if mode == "paper" or not secret:
        return None
    return f"{raw_spec.get('exchange')}|{mode}|{secret}|{raw_spec.get('symbol')}"


def earlier_holders(*, holders: Iterable[tuple[str, str]], name: str) -> list[str]:
    """The bots (``(creationTimestamp, name)`` pairs) that hold the key before ``name``, first
    created first: the first created trades, ties go to the name first in order."""
    ranked = sorted(set(holders))
    own = next((holder for holder in ranked if holder[1] == name), None)
    return [holder[1] for holder in ranked if own is not None and holder < own]


def shared_market_problem(
    *, spec: Mapping[str, object], holders: Sequence[str]
) -> ValidationProblem:
    """Why a bot (its raw ``spec``) may not trade a symbol that ``holders`` (first created
    first) hold on its account: the first of them trades it."""
    return ValidationProblem(
        field="spec.symbol",
        reason=ProblemReason.SYMBOL_TAKEN_ON_ACCOUNT,
        message=(
            f"{holders[0]} already trades {spec.get('symbol')} on this account "
            f"({spec.get('exchange')} {spec.get('mode')}, keys from Secret {_secret_of(spec)}): "
            "two bots on one symbol of one account would net into one exchange position that "
            "neither can tell apart. Give this bot another symbol or its own account's keys"
        ),
    )
