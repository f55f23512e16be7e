"""What the plugin knows about one bot: its status, conditions, events and kept revisions, as facts.

Pure. :mod:`tradefleet_kubectl.cluster` builds a :class:`BotFacts` from the API objects it reads;
:mod:`tradefleet_kubectl.status_view` shows it and :mod:`tradefleet_kubectl.ask` answers from it.
Which condition means trouble is the operator's vocabulary's
(:data:`~tradefleet_operator.spec.vocabulary.TROUBLE_STATUS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator.healing import ANNOTATION_KILL_SWITCH
from tradefleet_operator.render import ANNOTATION_CONFIG_HASH
from tradefleet_operator.spec.vocabulary import TROUBLE_STATUS, ConditionType

GROUP, VERSION, PLURAL = "tradefleet.io", "v1alpha1", "tradingbots"
_KNOWN = frozenset(c.value for c in ConditionType)


def parse_moment(text: object) -> datetime | None:
    """An API timestamp (RFC 3339, with or without fractions) as an aware datetime."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConditionFact:
    """One entry of ``status.conditions``."""

    type: str
    status: str
    reason: str
    message: str
    since: datetime | None

    @property
    def trouble(self) -> bool:
        """Whether this condition, as it stands, is something a user must look at."""
        wanted = TROUBLE_STATUS.get(ConditionType(self.type)) if self.type in _KNOWN else None
        return wanted is not None and self.status == wanted


@dataclass(frozen=True, kw_only=True, slots=True)
class EventFact:
    """One Kubernetes Event about the bot (or its pods)."""

    type: str
    reason: str
    message: str
    at: datetime | None
    count: int = 1
    # The object it is about: "TradingBot" for the bot's own events.
    kind: str = "TradingBot"
    name: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RevisionFact:
    """One revision: its number and hash, when and why it was created (``status.revisionHistory``),
    and the spec its ControllerRevision keeps, when it is still kept."""

    number: int
    hash: str
    created_at: datetime | None = None
    reason: str = ""
    source: str = ""
    spec: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BotFacts:
    """Everything the plugin shows about one bot."""

    namespace: str
    name: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str]
    conditions: tuple[ConditionFact, ...] = ()
    events: tuple[EventFact, ...] = ()
    revisions: tuple[RevisionFact, ...] = ()
    pod: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "Unknown")

    @property
    def region(self) -> str:
        return str(self.status.get("region") or self.spec.get("region") or "-")

    @property
    def kill_switch_set(self) -> bool:
        return str(self.annotations.get(ANNOTATION_KILL_SWITCH, "")).lower() == "true"

    @property
    def breaker(self) -> Mapping[str, Any]:
        breaker = self.status.get("circuitBreaker")
        return breaker if isinstance(breaker, Mapping) else {}

    @property
    def runtime(self) -> Mapping[str, Any]:
        runtime = self.status.get("runtime")
        return runtime if isinstance(runtime, Mapping) else {}

    @property
    def control(self) -> Mapping[str, Any]:
        control = self.status.get("control")
        return control if isinstance(control, Mapping) else {}

    @property
    def rollback(self) -> Mapping[str, Any]:
        rollback = self.status.get("rollback")
        return rollback if isinstance(rollback, Mapping) else {}

    def condition(self, type_: str) -> ConditionFact | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def troubles(self) -> tuple[ConditionFact, ...]:
        return tuple(c for c in self.conditions if c.trouble)


def condition_facts(status: Mapping[str, Any]) -> tuple[ConditionFact, ...]:
    """``status.conditions`` as facts, in the order the operator lists them."""
    return tuple(
        ConditionFact(
            type=str(c.get("type") or ""),
            status=str(c.get("status") or "Unknown"),
            reason=str(c.get("reason") or ""),
            message=str(c.get("message") or ""),
            since=parse_moment(c.get("lastTransitionTime")),
        )
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )


def event_fact(event: Mapping[str, Any]) -> EventFact:
    """A core/v1 Event (as the API serialises it) as a fact; its latest occurrence is ``at``."""
    involved = event.get("involvedObject") or {}
    series = event.get("series") or {}
    at = (
        parse_moment(series.get("lastObservedTime"))
        or parse_moment(event.get("lastTimestamp"))
        or parse_moment(event.get("eventTime"))
        or parse_moment(event.get("firstTimestamp"))
        or parse_moment((event.get("metadata") or {}).get("creationTimestamp"))
    )
    return EventFact(
        type=str(event.get("type") or "Normal"),
        reason=str(event.get("reason") or ""),
        message=str(event.get("message") or ""),
        at=at,
        count=int(event.get("count") or 1),
        kind=str(involved.get("kind") or ""),
        name=str(involved.get("name") or ""),
    )


def revision_facts(
    *, status: Mapping[str, Any], kept: Sequence[Mapping[str, Any]]
) -> tuple[RevisionFact, ...]:
    """The bot's revisions, oldest first: those in ``status.revisionHistory`` and those whose
    ControllerRevision is kept (with the spec each pins)."""
    by_number: dict[int, RevisionFact] = {}
    for obj in kept:
        number = int(obj.get("revision") or 0)
        data = obj.get("data") or {}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        by_number[number] = RevisionFact(
            number=number,
            hash=str(annotations.get(ANNOTATION_CONFIG_HASH, "")),
            created_at=parse_moment((obj.get("metadata") or {}).get("creationTimestamp")),
            spec=data.get("spec") if isinstance(data.get("spec"), Mapping) else None,
        )
    by_hash = {r.hash: r for r in by_number.values() if r.hash}
    for row in status.get("revisionHistory") or []:
        number = int(row.get("revision") or 0)
        # The ControllerRevision of a configuration the bot returned to may still carry its
        # first number: it is the same configuration, found by its hash.
        kept_one = by_number.get(number) or by_hash.get(str(row.get("hash") or ""))
        by_number[number] = RevisionFact(
            number=number,
            hash=str(row.get("hash") or (kept_one.hash if kept_one else "")),
            created_at=parse_moment(row.get("createdAt"))
            or (kept_one.created_at if kept_one else None),
            reason=str(row.get("reason") or ""),
            source=str(row.get("source") or ""),
            spec=kept_one.spec if kept_one else None,
        )
    return tuple(by_number[n] for n in sorted(by_number))


def bot_facts(
    *,
    bot: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]] = (),
    kept: Sequence[Mapping[str, Any]] = (),
    pod: str | None = None,
    now: datetime | None = None,
) -> BotFacts:
    """The facts of one TradingBot object, with its events and kept ControllerRevisions."""
    metadata = bot.get("metadata") or {}
    status = bot.get("status") or {}
    facts = [event_fact(e) for e in events]
    facts.sort(key=lambda e: e.at or datetime.min.replace(tzinfo=UTC))
    return BotFacts(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        spec=bot.get("spec") or {},
        status=status,
        annotations=metadata.get("annotations") or {},
        conditions=condition_facts(status),
        events=tuple(facts),
        revisions=revision_facts(status=status, kept=kept),
        pod=pod,
        now=now or datetime.now(UTC),
    )


def ago(*, moment: datetime | None, now: datetime) -> str:
    """``5m``, ``3h``, ``2d`` ago (as kubectl prints ages); ``-`` when unknown."""
    if moment is None:
        return "-"
    seconds = max(int((now - moment).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
