"""What one pass of a bot works from and builds up as it goes: pure, frozen records.

Made by :class:`~tradefleet_operator.reconcile.Reconciler` step by step — ``BotPass`` (the
bot's body, spec, region and children), ``Plan`` (the revision it rolls out), ``Observed``
(the runtime pods and the runtime's ``/status``) and ``Acted`` (what the pass wrote) — and
handed to the steps and status builders that read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_operator.account_terms import AccountTerms
from tradefleet_operator.healing import PodView, RuntimeView
from tradefleet_operator.optimizer import OptimizerResult
from tradefleet_operator.outcome import Event
from tradefleet_operator.render import Owner, child_name
from tradefleet_operator.revisions import RevisionPlan
from tradefleet_operator.spec import TradingBotSpec
from tradefleet_operator.writes import ChildKey


@dataclass(frozen=True, kw_only=True, slots=True)
class BotPass:
    """What one pass of a bot this operator runs works from."""

    body: Mapping[str, Any]
    owner: Owner
    spec: TradingBotSpec
    # On an ExchangeAccount: what the account gives it (``spec`` has the account's keys).
    terms: AccountTerms | None
    region: str
    children: Mapping[ChildKey, Mapping[str, Any]]
    now: datetime

    @property
    def previous(self) -> Mapping[str, Any]:
        status: Mapping[str, Any] = self.body.get("status") or {}
        return status

    @property
    def raw_spec(self) -> Mapping[str, Any]:
        raw: Mapping[str, Any] = self.body.get("spec") or {}
        return raw

    @property
    def runtime_spec(self) -> Mapping[str, Any]:
        """The spec the runtime's configuration is rendered from: on an ExchangeAccount, with
        the capital and exposure limits the account gives the bot."""
        if self.terms is None:
            return self.raw_spec
        return {**self.raw_spec, "risk": self.terms.risk(self.raw_spec.get("risk") or {})}

    @property
    def annotations(self) -> Mapping[str, str]:
        annotations: Mapping[str, str] = self.body["metadata"].get("annotations") or {}
        return annotations

    @property
    def generation(self) -> int:
        return int(self.body["metadata"].get("generation") or 0)

    @property
    def workload(self) -> ChildKey:
        return ("Deployment", child_name(owner=self.owner.name))


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """The revision a pass rolls out, and the optimization results it was chosen from."""

    revision: RevisionPlan
    kept: Sequence[Mapping[str, Any]]
    results: Sequence[OptimizerResult]
    adopted: OptimizerResult | None
    result_maps: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Observed:
    """The bot's runtime pods (terminating ones included), the current one, and its /status."""

    pods: Sequence[Mapping[str, Any]]
    current_pods: Sequence[Mapping[str, Any]]
    pod: PodView | None
    runtime: RuntimeView | None

    @property
    def runtime_status(self) -> Mapping[str, Any] | None:
        return self.runtime.status if self.runtime is not None else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Acted:
    """What the pass wrote and the events it recorded, before the status is concluded."""

    events: Sequence[Event]
    writes: int
    children: int  # how many children the bot has (for Reconciled's message)
    optimizer: Mapping[str, Any]
    control: Mapping[str, Any]
    # The current revision's ControllerRevision as the pass left it (None if unknown): its
    # creation time, stamped by the apiserver, is the one the index will deliver.
    revision: Mapping[str, Any] | None
