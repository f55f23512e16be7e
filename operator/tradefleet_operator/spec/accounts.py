"""Bots that would share one exchange position: the same symbol on the same exchange account.

An exchange account is an ExchangeAccount a bot names in ``spec.accountRef``, or else what a
bot's keys open: the same exchange, mode and credentials Secret is one account. Two bots on one symbol of one account would net into a single exchange position
(and, on spot, one balance of the base asset) that neither could tell apart: each would adopt,
protect and close the other's. The operator's TradingBot index keys bots by
:func:`account_market_of`; the reconciler refuses every bot but the first created
(:func:`shared_market_problem`). Paper bots each have their own simulated account.

:func:`validate_exchange_account_spec` judges an ExchangeAccount's spec beyond its schema, for
the account's pass (:mod:`tradefleet_operator.accounts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tradefleet_api.models import AllocationPolicy, ExchangeAccountSpec, TradingMode

from tradefleet_operator.spec.exchanges import PASSPHRASE_EXCHANGES, TESTNET_EXCHANGES
from tradefleet_operator.spec.schedule import cron_expression_error
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
    if mode == "paper":
        return None
    account_ref = raw_spec.get("accountRef")
    if isinstance(account_ref, Mapping) and account_ref.get("name"):
        return f"ExchangeAccount/{account_ref['name']}|{raw_spec.get('symbol')}"
    secret = _secret_of(raw_spec)
    if not secret:
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
            f"({_account_words(spec)}): "
            "two bots on one symbol of one account would net into one exchange position that "
            "neither can tell apart. Give this bot another symbol or its own account's keys"
        ),
    )


def _account_words(spec: Mapping[str, object]) -> str:
    account_ref = spec.get("accountRef")
    if isinstance(account_ref, Mapping) and account_ref.get("name"):
        return f"ExchangeAccount {account_ref['name']}"
    return f"{spec.get('exchange')} {spec.get('mode')}, keys from Secret {_secret_of(spec)}"


def validate_exchange_account_spec(spec: ExchangeAccountSpec) -> list[ValidationProblem]:
    """Every problem of an ExchangeAccount's spec the schema cannot see; empty when valid."""
    problems: list[ValidationProblem] = []

    def problem(field: str, reason: ProblemReason, message: str) -> None:
        problems.append(ValidationProblem(field=field, reason=reason, message=message))

    if spec.mode is not TradingMode.PAPER and spec.credentials is None:
        reason = (
            ProblemReason.LIVE_MODE_NEEDS_CREDENTIALS
            if spec.mode is TradingMode.LIVE
            else ProblemReason.TESTNET_MODE_NEEDS_CREDENTIALS
        )
        problem(
            "spec.credentials",
            reason,
            f"mode {spec.mode} needs credentials.secretRef naming a Secret with the account's keys",
        )
    if spec.mode is TradingMode.TESTNET and spec.exchange not in TESTNET_EXCHANGES:
        problem(
            "spec.mode",
            ProblemReason.TESTNET_NOT_SUPPORTED,
            f"{spec.exchange} has no test network; use mode paper",
        )
    if (
        spec.credentials is not None
        and spec.exchange in PASSPHRASE_EXCHANGES
        and spec.credentials.secret_ref.passphrase_key is None
    ):
        problem(
            "spec.credentials.secretRef.passphraseKey",
            ProblemReason.PASSPHRASE_REQUIRED,
            f"{spec.exchange} API keys come with a passphrase: set passphraseKey to the "
            "Secret's data key holding it",
        )
    schedule_error = cron_expression_error(spec.allocation.rebalance_schedule)
    if schedule_error is not None:
        problem("spec.allocation.rebalanceSchedule", ProblemReason.SCHEDULE_INVALID, schedule_error)
    fixed = sum((spec.allocation.amounts or {}).values())
    if spec.allocation.policy is AllocationPolicy.FIXED and fixed > spec.allocation.capital:
        problem(
            "spec.allocation.amounts",
            ProblemReason.ALLOCATION_INVALID,
            f"the amounts add up to {fixed:g}, more than spec.allocation.capital "
            f"{spec.allocation.capital:g}: lower the amounts or raise the capital",
        )
    return problems
