"""Self-healing decisions for one bot: restarts with backoff and budget, and runtime commands.

Pure functions called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass with
what it observed (the bot's previous status, its current pod, the runtime's ``/status`` answer or
why there was none). They return the new self-healing state, the conditions it implies, the
commands the runtime must get, and the runtime's figures fitted to the status schema; the
reconciler acts on them. Rollbacks are decided in :mod:`tradefleet_operator.revisions`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.spec import SelfHealingSpec
from tradefleet_operator.spec.vocabulary import Reason, breaker_reason

ANNOTATION_RESET_BREAKER = "tradefleet.io/reset-circuit-breaker"
ANNOTATION_KILL_SWITCH = "tradefleet.io/kill-switch"
# A human says the cause of the runtime's own halt or pause is fixed (a new value each time).
ANNOTATION_ACKNOWLEDGE = "tradefleet.io/acknowledge"
MAX_RECORDED_RESTARTS = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class PodView:
    """The bot's current pod as far as self-healing cares."""

    name: str
    ip: str | None
    running: bool
    restart_count: int
    started_at: datetime | None
    # How the container's last instance ended ("exit code 1 (Error): <its message>"), if known.
    last_termination: str | None = None


# A termination message is a fatal error or a log's tail: the end of it says the most.
MAX_TERMINATION_TEXT = 900

# The end of a restart record while the node has not reported how the container ended.
UNEXPLAINED_END = " (the node did not report how it ended)"


def termination_text(container_status: Mapping[str, Any]) -> str | None:
    """How a container's last instance ended, with its termination message (the runtime's fatal
    error, or the tail of its log), from its status; None when it has not ended yet."""
    terminated = (container_status.get("lastState") or {}).get("terminated") or (
        container_status.get("state") or {}
    ).get("terminated")
    if not isinstance(terminated, Mapping):
        return None
    text = f"exit code {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})"
    message = " ".join(str(terminated.get("message") or "").split())
    if message:
        if len(message) > MAX_TERMINATION_TEXT:
            message = "…" + message[-MAX_TERMINATION_TEXT:]
        text += f": {message}"
    return text


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """The pod as self-healing sees it, from the pod object."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    running = [(c.get("state") or {}).get("running") for c in containers]
    all_running = status.get("phase") == "Running" and bool(running) and all(running)
    # The health grace period counts from the latest container (re)start, not the pod's birth.
    starts = [parse_time(r.get("startedAt")) for r in running if r]
    return PodView(
        name=str(pod["metadata"]["name"]),
        ip=status.get("podIP"),
        running=all_running,
        restart_count=sum(int(c.get("restartCount") or 0) for c in containers),
        started_at=max((s for s in starts if s is not None), default=None),
        last_termination=next(
            (text for c in containers if (text := termination_text(c)) is not None), None
        ),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimeView:
    """The runtime's ``/status`` answer, or why there is none."""

    status: Mapping[str, Any] | None
    error: str | None


@dataclass(kw_only=True, slots=True)
class HealingDecision:
    """New ``status.selfHealing``, conditions to report, and what the reconciler must do."""

    state: dict[str, Any]
    conditions: list[cond.Condition] = field(default_factory=list)
    replicas: int = 1
    restarted: list[str] = field(default_factory=list)  # causes of restarts counted this pass
    degraded: bool = False


def _restarts_in_window(
    *, restarts: Sequence[Mapping[str, Any]], window_s: int, now: datetime
) -> list[Mapping[str, Any]]:
    recent = []
    for entry in restarts:
        at = parse_time(str(entry.get("at")))
        if at is not None and (now - at).total_seconds() <= window_s:
            recent.append(entry)
    return recent


def backoff_seconds(*, policy: SelfHealingSpec, restarts_in_window: int) -> float:
    """Exponential backoff before the operator replaces the pod again: base × 2^(n−1), capped."""
    if restarts_in_window <= 0:
        return 0.0
    return float(
        min(policy.backoff_seconds * 2 ** (restarts_in_window - 1), policy.max_backoff_seconds)
    )


def assess_restarts(
    *,
    policy: SelfHealingSpec,
    previous: Mapping[str, Any],
    generation: int,
    pod: PodView | None,
    runtime: RuntimeView | None,
    pods_exist: bool,
    now: datetime,
) -> HealingDecision:
    """Count crashes, replace hung or unhealthy runtimes, and stop at the restart budget."""
    state: dict[str, Any] = {
        k: v
        for k, v in previous.items()
        if k
        in (
            "recentRestarts",
            "observedPod",
            "observedPodRestarts",
            "unreachableSince",
            "replacing",
            "degradedAtGeneration",
            "unexplainedCrashSince",
        )
    }
    restarts: list[Mapping[str, Any]] = list(state.get("recentRestarts") or [])
    decision = HealingDecision(state=state)

    # The user acted (a new spec): the budget starts afresh.
    if "degradedAtGeneration" in state and int(state["degradedAtGeneration"]) != generation:
        restarts = []
        state.pop("degradedAtGeneration")

    def record(cause: str, message: str) -> None:
        restarts.insert(0, {"at": format_time(now), "cause": cause, "message": message[:1024]})
        decision.restarted.append(cause)

    if pod is not None:
        for message in _new_crashes(state=state, pod=pod, now=now):
            record("crashed", message)
        _explain_crash(state=state, pod=pod, restarts=restarts)

    # A replacement is finished once the old pod is gone.
    if state.get("replacing") and not pods_exist:
        state["replacing"] = False

    in_window = _restarts_in_window(
        restarts=restarts, window_s=policy.restart_window_seconds, now=now
    )
    if len(in_window) >= policy.max_restarts:
        state.setdefault("degradedAtGeneration", generation)
        decision.degraded = True
        decision.replicas = 0
        decision.conditions.append(
            _budget_exhausted(policy=policy, restarts_in_window=len(in_window), restarts=restarts)
        )
    else:
        state.pop("degradedAtGeneration", None)
        decision.conditions.append(
            cond.Condition(
                type=cond.DEGRADED,
                status=False,
                reason=Reason.WITHIN_RESTART_BUDGET,
                message=f"{len(in_window)}/{policy.max_restarts} restarts in the last {policy.restart_window_seconds}s",
            )
        )
        cause = _replacement_cause(policy=policy, state=state, pod=pod, runtime=runtime, now=now)
        if cause is not None and not state.get("replacing"):
            last = parse_time(str(in_window[0]["at"])) if in_window else None
            wait = backoff_seconds(policy=policy, restarts_in_window=len(in_window))
            if last is None or (now - last).total_seconds() >= wait:
                record(cause[0], cause[1])
                state["replacing"] = True
                state.pop("unreachableSince", None)
        if state.get("replacing"):
            decision.replicas = 0

    state["recentRestarts"] = restarts[:MAX_RECORDED_RESTARTS]
    return decision


def _new_crashes(*, state: dict[str, Any], pod: PodView, now: datetime) -> list[str]:
    """A message per container restart of ``pod`` not counted yet (the count is kept in
    ``state`` per pod name, so a new pod starts from zero).

    A real kubelet can remove the ended instance as the next one starts, so a restart may show
    no ``lastState``: it is counted at once all the same (the budget must not wait), its record
    says the node did not report how the container ended, and ``_explain_crash`` completes it
    from the next end the node reports."""
    if state.get("observedPod") != pod.name:
        state.pop("unexplainedCrashSince", None)
        if pod.restart_count == 0:
            # Nothing of a new pod to count yet, nor to remember: its count starts from zero
            # whenever it is first counted. Recorded now, a new bot's first pod would cost a
            # status write as it appears, while it is still on its way.
            state.pop("observedPod", None)
            state.pop("observedPodRestarts", None)
            return []
        state["observedPod"] = pod.name
        baseline = 0
    else:
        baseline = int(state.get("observedPodRestarts") or 0)
    state["observedPodRestarts"] = pod.restart_count
    new = max(0, pod.restart_count - baseline)
    if pod.last_termination is None:
        if new:
            state.setdefault("unexplainedCrashSince", format_time(now))
        ended = UNEXPLAINED_END
    else:
        ended = f": {pod.last_termination}"
    return [f"container of pod {pod.name} exited and was restarted{ended}"] * new


def _explain_crash(
    *, state: dict[str, Any], pod: PodView, restarts: list[Mapping[str, Any]]
) -> None:
    """Restart records of ``pod`` that lack how the container ended get the account of the end
    the node reports now: in a crash loop every instance ends the same way."""
    if pod.last_termination is None or state.pop("unexplainedCrashSince", None) is None:
        return
    for index, entry in enumerate(restarts):
        message = str(entry.get("message") or "")
        if entry.get("cause") == "crashed" and message.endswith(UNEXPLAINED_END):
            explained = f"{message.removesuffix(UNEXPLAINED_END)}: {pod.last_termination}"
            restarts[index] = {**entry, "message": explained[:1024]}


def _budget_exhausted(
    *, policy: SelfHealingSpec, restarts_in_window: int, restarts: list[Mapping[str, Any]]
) -> cond.Condition:
    """Degraded: the restart budget is spent; the message quotes the latest restart."""
    message = (
        f"{restarts_in_window} restarts in the last {policy.restart_window_seconds}s reached "
        f"spec.selfHealing.maxRestarts={policy.max_restarts}; the bot is stopped until the spec "
        "changes or the window passes"
    )
    if restarts:
        latest = restarts[0]
        message += f"; the latest restart: {latest.get('cause')}: {latest.get('message', '')}"
    return cond.Condition(
        type=cond.DEGRADED, status=True, reason=Reason.RESTART_BUDGET_EXHAUSTED, message=message
    )


def _replacement_cause(
    *,
    policy: SelfHealingSpec,
    state: dict[str, Any],
    pod: PodView | None,
    runtime: RuntimeView | None,
    now: datetime,
) -> tuple[str, str] | None:
    """Why the running pod must be replaced (hung or unhealthy), if it must."""
    if pod is None or not pod.running or runtime is None:
        state.pop("unreachableSince", None)
        return None
    timeout = policy.heartbeat_timeout_seconds
    if runtime.status is None:
        since = parse_time(state.get("unreachableSince")) or now
        state["unreachableSince"] = format_time(since)
        grace_from = max(since, pod.started_at or since)
        if (now - grace_from).total_seconds() > timeout:
            return (
                "unhealthy",
                f"runtime status endpoint failing for over {timeout}s: {runtime.error}",
            )
        return None
    state.pop("unreachableSince", None)
    heartbeat = runtime.status.get("heartbeat")
    if isinstance(heartbeat, int | float) and heartbeat > 0:
        age = now.timestamp() - float(heartbeat)
        if age > timeout:
            return (
                "hung",
                f"runtime heartbeat is {age:.0f}s old (heartbeatTimeoutSeconds={timeout})",
            )
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Commands:
    """Runtime commands the desired state calls for, in the order to send them."""

    names: tuple[str, ...]
    breaker_reset_value: str | None
    kill_switch: bool
    acknowledge_value: str | None = None


def runtime_commands(
    *,
    paused: bool,
    annotations: Mapping[str, str],
    control: Mapping[str, Any],
    runtime: Mapping[str, Any],
) -> Commands:
    """Compare what the user asks (spec.paused, annotations) with what the runtime reports."""
    # The user's pause and kill switch are compared with the runtime's user flags only: a pause
    # or halt the runtime made itself (insufficient funds, a rejected key) is never lifted here.
    names: list[str] = []
    kill = str(annotations.get(ANNOTATION_KILL_SWITCH, "")).lower() == "true"
    user_halted = bool(runtime.get("userHalted"))
    if kill and not user_halted:
        names.append("halt")
    elif not kill and user_halted:
        names.append("unhalt")
    user_paused = bool(runtime.get("userPaused"))
    if paused and not user_paused:
        names.append("pause")
    elif not paused and user_paused:
        names.append("resume")
    reset_value = annotations.get(ANNOTATION_RESET_BREAKER)
    breaker_open = (runtime.get("circuitBreaker") or {}).get("state") == "Open"
    pending_reset = bool(reset_value) and reset_value != control.get("breakerResetAcknowledged")
    if pending_reset and breaker_open:
        names.append("reset-breaker")
    # Sent once per value, whatever the runtime reports: acknowledging nothing is harmless, and
    # a halt that happened between two polls is lifted too.
    acknowledge = annotations.get(ANNOTATION_ACKNOWLEDGE)
    pending_acknowledge = bool(acknowledge) and acknowledge != control.get("acknowledged")
    if pending_acknowledge:
        names.append("acknowledge")
    return Commands(
        names=tuple(names),
        breaker_reset_value=reset_value if pending_reset else None,
        kill_switch=kill,
        acknowledge_value=acknowledge if pending_acknowledge else None,
    )


def breaker_condition(
    runtime: Mapping[str, Any] | None, previous: Mapping[str, Any] | None
) -> cond.Condition:
    """``CircuitBreakerOpen`` from the runtime's report (or the last known one while it is silent)."""
    breaker = (runtime or {}).get("circuitBreaker") or previous or {}
    if breaker.get("state") == "Open":
        return cond.Condition(
            type=cond.CIRCUIT_BREAKER_OPEN,
            status=True,
            reason=breaker_reason(breaker.get("reason")),
            message=str(breaker.get("message") or "the runtime stopped opening positions"),
        )
    return cond.Condition(
        type=cond.CIRCUIT_BREAKER_OPEN,
        status=False,
        reason=Reason.CLOSED,
        message="no circuit breaker is open",
    )


_ACTIONS = frozenset({"strong_buy", "buy", "neutral", "sell", "strong_sell"})


def _as_time(value: Any) -> str | None:
    """A runtime timestamp (Unix seconds or RFC 3339) in the status's date-time format."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return format_time(datetime.fromtimestamp(float(value), tz=UTC))
    if isinstance(value, str):
        try:
            return format_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


# The runtime's states of its ML input (service/ml_signal.MlState), as the CRD lists them.
ML_STATES = ("WaitingForModel", "Ready", "ModelRefused")


def _as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return round(float(value), 6)
    return None


def _account_figures(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """What an ExchangeAccount adds up of its bots: their requests in the last minute, and the
    exchange balance they read."""
    figures: dict[str, Any] = {}
    requests = _as_number(runtime.get("requestsPerMinute"))
    if requests is not None and requests >= 0:
        figures["requestsPerMinute"] = int(requests)
    balance = runtime.get("balance")
    currency = balance.get("currency") if isinstance(balance, Mapping) else None
    if isinstance(balance, Mapping) and isinstance(currency, str) and 0 < len(currency) <= 16:
        amounts = {key: _as_number(balance.get(key)) for key in ("free", "used", "total")}
        observed = _as_time(balance.get("asOf"))
        if all(value is not None for value in amounts.values()) and observed is not None:
            figures["balance"] = {
                "currency": currency,
                **amounts,
                "observedAt": observed,
            }
    return figures


def runtime_figures(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The live figures the bot's status shows, from the runtime's ``/status``.

    Values are normalised to the CRD's status schema and anything that does not fit is left out,
    so an odd answer from a runtime can never block the status write.
    """
    figures: dict[str, Any] = {}
    for key in ("equity", "pnl", "pnlPct", "drawdownPct"):
        number = _as_number(runtime.get(key))
        if number is not None:
            figures[key] = number
    figures.update(_account_figures(runtime))
    position = runtime.get("position")
    if isinstance(position, Mapping):
        side = str(position.get("side") or "flat").lower()
        figures["position"] = {
            "side": side if side in ("long", "short", "flat") else "flat",
            "size": abs(_as_number(position.get("size")) or 0.0),
            "entryPrice": abs(_as_number(position.get("entryPrice")) or 0.0),
        }
    regime = runtime.get("regime")
    if isinstance(regime, str) and regime:
        figures["regime"] = regime[:64]
    signal = runtime.get("lastSignal")
    if isinstance(signal, Mapping) and str(signal.get("action", "")).lower() in _ACTIONS:
        figures["lastSignal"] = _signal_figures(signal)
    breaker = runtime.get("circuitBreaker")
    if isinstance(breaker, Mapping) and breaker.get("state") in ("Open", "Closed"):
        figures["circuitBreaker"] = _breaker_figures(breaker)
    heartbeat = _as_time(runtime.get("heartbeat"))
    if heartbeat:
        figures["lastHeartbeat"] = heartbeat
    ml = runtime.get("ml")
    if isinstance(ml, Mapping) and ml.get("state") in ML_STATES:
        figures["ml"] = _ml_figures(ml)
    return figures


def _signal_figures(signal: Mapping[str, Any]) -> dict[str, Any]:
    """``status.lastSignal``: the decision's class, its score in [-1, 1] and when."""
    last: dict[str, Any] = {
        "action": str(signal["action"]).lower(),
        "score": max(-1.0, min(1.0, _as_number(signal.get("score")) or 0.0)),
    }
    at = _as_time(signal.get("at"))
    if at:
        last["at"] = at
    return last


def _breaker_figures(breaker: Mapping[str, Any]) -> dict[str, Any]:
    """``status.circuitBreaker``: its state and, when open, why and since when."""
    shown: dict[str, Any] = {"state": breaker["state"]}
    if breaker.get("reason"):
        # The condition's word for it (drawdown -> Drawdown): one vocabulary.
        shown["reason"] = str(breaker_reason(breaker["reason"]))
    if breaker.get("message"):
        shown["message"] = str(breaker["message"])[:1024]
    since = _as_time(breaker.get("since"))
    if since:
        shown["since"] = since
    return shown


def _ml_figures(ml: Mapping[str, Any]) -> dict[str, Any]:
    """``status.ml`` from the runtime's ``ml`` block: the model in use and its latest prediction."""
    shown: dict[str, Any] = {"state": ml["state"], "reason": str(ml.get("reason") or "")[:1024]}
    model = ml.get("model")
    if isinstance(model, Mapping):
        version = model.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            shown["version"] = version
        shown["trainedBy"] = str(model.get("trainedBy") or "")[:253]
        trained_at_ms = _as_number(model.get("trainedAtMs"))
        trained_at = _as_time(trained_at_ms / 1000.0) if trained_at_ms else None
        if trained_at:
            shown["trainedAt"] = trained_at
        accuracy = _as_number(model.get("walkForwardAccuracy"))
        if accuracy is not None and 0.0 <= accuracy <= 1.0:
            shown["walkForwardAccuracy"] = accuracy
    prediction = ml.get("prediction")
    if isinstance(prediction, Mapping):
        for key, field in (("probability_up", "probabilityUp"), ("confidence", "confidence")):
            number = _as_number(prediction.get(key))
            if number is not None and 0.0 <= number <= 1.0:
                shown[field] = number
    return shown


def source_figures(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """A SignalSource's ``lastPublished`` and ``lastValues`` from its ``/status``, schema-normalised."""
    figures: dict[str, Any] = {}
    published = _as_time(runtime.get("lastPublished"))
    if published:
        figures["lastPublished"] = published
    rows = runtime.get("lastValues") or []
    # The runtime keeps them by symbol ({symbol: reading}); a list of readings reads the same.
    readings = rows.values() if isinstance(rows, Mapping) else rows
    values = []
    for row in readings if isinstance(readings, Iterable) else []:
        if not isinstance(row, Mapping):
            continue
        value = _as_number(row.get("value"))
        if not isinstance(row.get("symbol"), str) or value is None:
            continue
        shown: dict[str, Any] = {"symbol": row["symbol"][:64], "value": max(-1.0, min(1.0, value))}
        confidence = _as_number(row.get("confidence"))
        if confidence is not None:
            shown["confidence"] = max(0.0, min(1.0, confidence))
        as_of_ms = _as_number(row.get("as_of_ms"))
        at = _as_time(as_of_ms / 1000.0 if as_of_ms else row.get("at"))
        if at:
            shown["at"] = at
        values.append(shown)
    if values:
        figures["lastValues"] = values[:64]
    return figures
