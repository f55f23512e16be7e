"""What each reason means and what a user does about it: the documentation of the vocabulary.

:mod:`tradefleet_operator.spec.vocabulary` names every phase, condition type and reason; this
module says, for each reason, where it appears, what it means and the action it asks for.
:mod:`tradefleet_operator.spec.reference` renders :data:`REASONS` into docs/crd-reference.md and
:mod:`tradefleet_operator.spec.troubleshooting` into docs/troubleshooting.md; the kubectl plugin's
``ask`` answers from :func:`documented`. tests/unit/api checks that every reason is documented
once.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradefleet_operator.spec.validation import PROBLEM_FIXES, PROBLEM_MEANINGS, ProblemReason
from tradefleet_operator.spec.vocabulary import EVENT, ConditionType, Reason


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasonDoc:
    """What a reason means where it appears, and what a user does about it."""

    reason: str
    # Condition types it is a reason of, or EVENT.
    used_on: tuple[str, ...]
    meaning: str
    action: str


def _doc(reason: str, used_on: tuple[str, ...], meaning: str, action: str) -> ReasonDoc:
    return ReasonDoc(reason=reason, used_on=used_on, meaning=meaning, action=action)


_R, _C = Reason, ConditionType
_READY_RECONCILED = (_C.READY, _C.RECONCILED)
_NOTHING = "nothing"

# In the order docs/crd-reference.md lists them.
REASONS: tuple[ReasonDoc, ...] = (
    _doc(
        _R.RUNTIME_AVAILABLE,
        (_C.READY,),
        "the current revision's runtime is running and ready",
        _NOTHING,
    ),
    _doc(
        _R.WORKLOAD_CREATING, (_C.READY,), "the Deployment of the revision is being created", "wait"
    ),
    _doc(
        _R.WAITING_FOR_POD,
        (_C.READY,),
        "no pod of the current revision exists or is scheduled yet",
        "wait; if it lasts, `kubectl describe` the Deployment",
    ),
    _doc(
        _R.UNSCHEDULABLE,
        (_C.READY,),
        "the pod fits no node of the bot's region",
        "add capacity in the region or lower spec.resources",
    ),
    _doc(
        _R.POD_NOT_READY,
        (_C.READY,),
        "the pod runs but its runtime is not ready; the message says why",
        "read the message; `kubectl logs` the pod",
    ),
    _doc(
        _R.CRASH_LOOP_BACK_OFF,
        (_C.READY,),
        "the runtime keeps exiting; the message quotes its last exit and fatal error",
        "fix what the message names (symbol, exchange, keys, resources); the restart budget stops it meanwhile",
    ),
    _doc(
        _R.IMAGE_PULL_BACK_OFF,
        (_C.READY,),
        "the image cannot be pulled (phase Failed)",
        "fix spec.image (or the operator's runtimeImage) or the registry's credentials",
    ),
    _doc(
        _R.ERR_IMAGE_PULL,
        (_C.READY,),
        "pulling the image failed (phase Failed)",
        "fix spec.image (or the operator's runtimeImage) or the registry's credentials",
    ),
    _doc(
        _R.INVALID_IMAGE_NAME,
        (_C.READY,),
        "the image reference does not parse (phase Failed)",
        "fix spec.image",
    ),
    _doc(
        _R.CREATE_CONTAINER_CONFIG_ERROR,
        (_C.READY,),
        "the container cannot be configured, e.g. a Secret or key it reads is missing (phase Failed)",
        "create what the message names",
    ),
    _doc(
        _R.CREATE_CONTAINER_ERROR,
        (_C.READY,),
        "the container runtime cannot create the runtime's container (the message quotes it: a "
        "mount, the command); the kubelet keeps retrying",
        "fix what the message names; `kubectl describe pod` shows the pod's events",
    ),
    _doc(
        _R.RUN_CONTAINER_ERROR,
        (_C.READY,),
        "the container runtime created the runtime's container but cannot start it (the message "
        "quotes it); the kubelet keeps retrying",
        "fix what the message names; `kubectl describe pod` shows the pod's events",
    ),
    _doc(
        _R.CREDENTIALS_MISSING,
        _READY_RECONCILED,
        "the Secret of spec.credentials.secretRef is missing, lacks a key, or is not labelled "
        '`tradefleet.io/credentials: "true"` (only Secrets so marked are given to a bot)',
        "create the Secret with the keys the message names, labelled "
        '`tradefleet.io/credentials: "true"`',
    ),
    _doc(
        _R.ACCOUNT_NOT_FOUND,
        _READY_RECONCILED,
        "spec.accountRef names an ExchangeAccount the bot's namespace does not have (phase Pending)",
        "create the ExchangeAccount or fix spec.accountRef.name",
    ),
    _doc(
        _R.ACCOUNT_NOT_READY,
        _READY_RECONCILED,
        "the bot's ExchangeAccount is Invalid (phase Pending)",
        "fix the account: `kubectl describe xa NAME`",
    ),
    _doc(
        _R.ALLOCATION_PENDING,
        _READY_RECONCILED,
        "the bot's ExchangeAccount has not allocated it capital yet (a bot that joins is "
        "allocated once no other bot has joined for 3 s), or allocates it none",
        "wait for the account's next pass; with policy fixed or weighted give the bot an amount or a weight",
    ),
    _doc(
        _R.ALLOCATED,
        (_C.READY,),
        "(ExchangeAccount) its capital is allocated to its bots (status.bots)",
        _NOTHING,
    ),
    _doc(
        _R.ACCOUNT_DRAWDOWN_LIMIT,
        (_C.HALTED, EVENT),
        "(ExchangeAccount) its equity fell spec.risk.maxDrawdownPct below its peak: every bot on it "
        "has the kill switch set (tradefleet.io/kill-switch) and flattens",
        "find why on the bots; to trade again set the annotation tradefleet.io/rearm on the account "
        "to a new value, which clears the kill switch it set and restarts its peak",
    ),
    _doc(
        _R.WITHIN_DRAWDOWN_LIMIT,
        (_C.HALTED,),
        "(ExchangeAccount) its drawdown is under spec.risk.maxDrawdownPct, or it has none",
        _NOTHING,
    ),
    _doc(
        _R.BALANCE_COVERS_ALLOCATION,
        (_C.FUNDED,),
        "(ExchangeAccount) for every currency its bots settle in, the exchange holds at least the "
        "allocations of those bots",
        _NOTHING,
    ),
    _doc(
        _R.ALLOCATION_EXCEEDS_BALANCE,
        (_C.FUNDED, EVENT),
        "(ExchangeAccount) the bots settling in a currency are allocated more than the exchange holds "
        "of it: they size positions on money the account does not have, and the exchange will "
        "refuse orders for insufficient funds",
        "lower spec.allocation.capital to at most the balance (status.balances), or fund the "
        "exchange account",
    ),
    _doc(
        _R.BALANCE_NOT_REPORTED,
        (_C.FUNDED,),
        "(ExchangeAccount, Funded Unknown) no bot settling in a currency has read the exchange's "
        "balance of it yet: a bot reads it once it has started (if that lasts, see the bots' "
        "Ready conditions)",
        _NOTHING,
    ),
    _doc(
        _R.SIMULATED_WALLETS,
        (_C.FUNDED,),
        "(ExchangeAccount) a paper account: each of its bots trades a simulated wallet of its own, "
        "so there is no exchange balance to compare",
        _NOTHING,
    ),
    _doc(
        _R.OWNED_BY_OTHER_REGION,
        _READY_RECONCILED,
        "the bot or SignalSource runs in another region; this region's operator leaves it alone",
        "look at the owning region's operator",
    ),
    _doc(_R.CHILDREN_IN_SYNC, (_C.RECONCILED,), "every child object matches the spec", _NOTHING),
    _doc(
        _R.WAITING_FOR_PREVIOUS_RUNTIME,
        (_C.READY, _C.PROGRESSING),
        "a previous runtime pod still exists; no new runtime starts next to it",
        "wait; a pod on a lost node is force-deleted after its grace period plus nodeLostTimeoutSeconds",
    ),
    _doc(
        _R.ROLLOUT_IN_PROGRESS,
        (_C.PROGRESSING,),
        "a revision is rolling out",
        "wait; it is rolled back after spec.selfHealing.progressDeadlineSeconds",
    ),
    _doc(_R.ROLLOUT_COMPLETE, (_C.PROGRESSING,), "the current revision rolled out", _NOTHING),
    _doc(
        _R.ROLLOUT_QUEUED,
        (_C.PROGRESSING,),
        "a new revision (a spec change, or a new runtime image after a Helm upgrade) waits: "
        "maxConcurrentRollouts bots of the region are rolling out; the current revision keeps running",
        "nothing: it starts when one of them is healthy or rolled back; raise "
        "operator.maxConcurrentRollouts to roll a region faster",
    ),
    _doc(
        _R.RESTART_BUDGET_EXHAUSTED,
        (_C.DEGRADED,),
        "spec.selfHealing.maxRestarts restarts in the window: the bot is stopped",
        "fix the cause (see selfHealing.recentRestarts and Ready), then change the spec",
    ),
    _doc(_R.WITHIN_RESTART_BUDGET, (_C.DEGRADED,), "restarts are within the budget", _NOTHING),
    _doc(_R.CLOSED, (_C.CIRCUIT_BREAKER_OPEN,), "no circuit breaker is open", _NOTHING),
    _doc(
        _R.DRAWDOWN,
        (_C.CIRCUIT_BREAKER_OPEN,),
        "drawdown reached spec.risk.maxDrawdownPct: no new positions",
        "review the strategy; annotate tradefleet.io/reset-circuit-breaker to resume",
    ),
    _doc(
        _R.DAILY_LOSS,
        (_C.CIRCUIT_BREAKER_OPEN,),
        "the day's loss reached spec.risk.maxDailyLossPct",
        "wait for the next day or reset the breaker",
    ),
    _doc(
        _R.CONSECUTIVE_LOSSES,
        (_C.CIRCUIT_BREAKER_OPEN,),
        "spec.risk.maxConsecutiveLosses losing trades in a row",
        "review the strategy; reset the breaker",
    ),
    _doc(
        _R.ATR,
        (_C.CIRCUIT_BREAKER_OPEN,),
        "volatility (ATR) above the breaker's limit",
        "wait for calmer markets or reset the breaker",
    ),
    _doc(
        _R.TRIPPED,
        (_C.CIRCUIT_BREAKER_OPEN,),
        "a breaker tripped for a reason this operator does not know",
        "read the message; reset the breaker",
    ),
    _doc(
        _R.PROGRESS_DEADLINE_EXCEEDED,
        (_C.ROLLED_BACK,),
        "a revision was not healthy within progressDeadlineSeconds; the last good one runs",
        "fix the spec; a spec change rolls forward",
    ),
    _doc(_R.ROLLED_FORWARD, (_C.ROLLED_BACK,), "the spec changed after a rollback", _NOTHING),
    _doc(_R.NO_ROLLBACK, (_C.ROLLED_BACK,), "no rollback happened", _NOTHING),
    _doc(
        _R.PAUSED_BY_SPEC,
        (_C.PAUSED,),
        "spec.paused is true: no new positions",
        "set spec.paused to false to trade",
    ),
    _doc(
        _R.TRADING,
        (_C.PAUSED, _C.TRADING),
        "(Paused) the bot is not paused by its spec; (Trading) the runtime trades",
        _NOTHING,
    ),
    _doc(
        _R.RATE_LIMITED,
        (_C.TRADING,),
        "the runtime trades but polls slower after HTTP 429s from the exchange",
        "if it lasts, lower the bot count per exchange account",
    ),
    _doc(
        _R.STANDBY,
        (_C.TRADING, _C.READY),
        "another runtime of this bot holds its Redis lease; this one waits",
        "wait; if it lasts, look for a second runtime of the bot",
    ),
    _doc(
        _R.KILL_SWITCH,
        (_C.TRADING,),
        "halted by the tradefleet.io/kill-switch annotation; positions flattened",
        "remove the annotation to trade again",
    ),
    _doc(
        _R.AUTHENTICATION_FAILED,
        (_C.TRADING, _C.READY),
        "the exchange refused the API key: the runtime halted itself",
        "fix the key in the Secret, restart the pod, then annotate tradefleet.io/acknowledge",
    ),
    _doc(
        _R.RUNTIME_HALTED,
        (_C.TRADING, _C.READY),
        "the runtime halted itself; the message says why",
        "fix the cause, then annotate tradefleet.io/acknowledge",
    ),
    _doc(
        _R.STARTING,
        (_C.TRADING, _C.READY),
        "the runtime is not yet reconciled with the exchange",
        "wait",
    ),
    _doc(
        _R.STATE_STORE_UNAVAILABLE,
        (_C.TRADING, _C.READY),
        "Redis is unreachable: no order can be recorded, so none is sent",
        "restore Redis (see the operator's redis settings)",
    ),
    _doc(
        _R.POSITION_UNPROTECTED,
        (_C.TRADING, _C.READY),
        "a position has had no stop for more than 2 s",
        "see runbook TradefleetPositionUnprotected; protect or flatten the position",
    ),
    _doc(
        _R.BREAKER_OPEN,
        (_C.TRADING,),
        "(Trading) a circuit breaker is open: no new positions",
        "see the CircuitBreakerOpen condition",
    ),
    _doc(
        _R.INSUFFICIENT_FUNDS,
        (_C.TRADING, _C.READY, _C.PAUSED),
        "the runtime paused itself: not enough margin or balance",
        "fund the account or lower spec.risk, then annotate tradefleet.io/acknowledge",
    ),
    _doc(
        _R.ORDERS_UNRESOLVED,
        (_C.TRADING, _C.PAUSED),
        "an order's outcome is unknown; new entries wait until it is known",
        "wait; if it lasts, check the exchange's open orders",
    ),
    _doc(
        _R.PAUSED_BY_USER,
        (_C.TRADING,),
        "paused by spec.paused",
        "set spec.paused to false to trade",
    ),
    _doc(
        _R.MARKET_DATA_STALE,
        (_C.TRADING, _C.READY),
        "no valid market data recently",
        "check the exchange's status and the bot's network egress",
    ),
    _doc(
        _R.RUNTIME_NOT_RUNNING,
        (_C.TRADING,),
        "no runtime of the bot is running",
        "see the Ready condition",
    ),
    _doc(
        _R.RUNTIME_UNREACHABLE,
        (_C.TRADING,),
        "the runtime's /status did not answer",
        "wait; an unreachable runtime is replaced after spec.selfHealing.heartbeatTimeoutSeconds",
    ),
    _doc(
        _R.TRADING_STATE_UNKNOWN,
        (_C.TRADING,),
        "the runtime reports no trading state this operator knows",
        "upgrade the operator to the runtime's version",
    ),
    _doc(
        _R.ALL_SOURCES_READY,
        (_C.SIGNAL_SOURCES_READY,),
        "every referenced SignalSource publishes, for the bot's symbol (or its base/quote pair), "
        "a value with confidence above 0",
        _NOTHING,
    ),
    _doc(
        _R.SIGNAL_SOURCE_MISSING,
        (_C.SIGNAL_SOURCES_READY,),
        "a referenced SignalSource does not exist; its weight is redistributed",
        "create it or remove the reference",
    ),
    _doc(
        _R.SIGNAL_SOURCE_NOT_READY,
        (_C.SIGNAL_SOURCES_READY,),
        "a referenced SignalSource does not publish yet, or publishes nothing with confidence "
        "above 0 for the bot's symbol; its weight is redistributed",
        "look at the SignalSource's Ready condition and status.lastValues",
    ),
    _doc(
        _R.NOTIFICATIONS_DELIVERED,
        (_C.NOTIFICATIONS_DELIVERED,),
        "every target of spec.notifications took its last message (or has had none to take)",
        _NOTHING,
    ),
    _doc(
        _R.NOTIFICATION_TARGET_FAILING,
        (_C.NOTIFICATIONS_DELIVERED, EVENT),
        "a target's last message failed after its retries (HTTP 5xx or 429, a timeout, or an "
        "answer that is not a success); the message names the target and the error",
        "check the receiver and the URL or token in the target's Secret; the next message that "
        "gets through sets the condition True again",
    ),
    _doc(
        _R.NOTIFICATION_SECRET_MISSING,
        (_C.NOTIFICATIONS_DELIVERED, EVENT),
        "a target's Secret is missing, lacks its key, or is not labelled "
        '`tradefleet.io/notifications: "true"` (only Secrets so marked are read for notifications)',
        "create the Secret with the key the message names, labelled "
        '`tradefleet.io/notifications: "true"`',
    ),
    _doc(
        _R.NOTIFICATION_CONFIG_INVALID,
        (_C.NOTIFICATIONS_DELIVERED,),
        "a target of spec.notifications cannot be used as written (type telegram without "
        "telegram.chatId); the message names the field. The other targets still get messages",
        "fix the field the message names",
    ),
    _doc(
        _R.PUBLISHING,
        (_C.READY, _C.MARKET_DATA_READY),
        "(SignalSource) values are published on time; (ExchangeAccount) every market-data "
        "workload is ready",
        _NOTHING,
    ),
    _doc(
        _R.NOT_PUBLISHING,
        (_C.READY, _C.MARKET_DATA_READY),
        "(SignalSource) no value published within three intervals; (ExchangeAccount) a "
        "market-data workload is not ready (its bots report stale market data meanwhile)",
        "`kubectl logs` the source's or the workload's pod",
    ),
    _doc(_R.PAUSED, (_C.READY,), "(SignalSource) spec.paused is true", "set spec.paused to false"),
    _doc(
        _R.KILL_SWITCH_NOT_CONFIRMED,
        (_C.READY,),
        "the kill switch is set but the runtime did not confirm the halt within killSwitchUnreachableSeconds: the workload is scaled to zero, the flatten is not confirmed",
        "check the exchange for open positions and orders; remove the annotation once safe",
    ),
    _doc(
        _R.KILL_SWITCH_HALTED,
        (EVENT,),
        "the runtime confirmed the kill switch: halted, positions flattened",
        _NOTHING,
    ),
    _doc(
        _R.KILL_SWITCH_FLATTEN_FAILED,
        (EVENT,),
        "the runtime halted for the kill switch, but its flatten failed",
        "check the exchange for open positions; status.control.flatten says why",
    ),
    _doc(
        _R.FLATTEN_STARTED,
        (EVENT,),
        "deletion asked the runtime to flatten and waits for it",
        _NOTHING,
    ),
    _doc(
        _R.FLATTEN_FAILED,
        (EVENT,),
        "deletion: the runtime's flatten failed; the bot is deleted anyway",
        "check the exchange for open positions",
    ),
    _doc(
        _R.APPLY_FAILED,
        (_C.RECONCILED, EVENT),
        "the apiserver refused one of the bot's children (the message quotes it: a quota, an admission webhook, RBAC); retried with backoff",
        "fix what the message names",
    ),
    _doc(
        _R.REVISION_CREATED,
        (EVENT,),
        "a new revision (2 and later: a spec change, an adopted optimization, a new runtime image) rolls out; a new bot's first one records no event",
        _NOTHING,
    ),
    _doc(
        _R.OPTIMIZATION_FAILED,
        (EVENT,),
        "an optimization Job failed; status.optimizer.lastFailure says why",
        "read the reason and the optimizer's last words; a bot's own spec.image must carry the research extra",
    ),
    _doc(
        _R.DRIFT_REPAIRED,
        (EVENT,),
        "a child object was missing or edited and was restored",
        "change the TradingBot, not its children",
    ),
    _doc(
        _R.BOT_RESTARTED,
        (EVENT,),
        "the runtime was restarted (crashed, hung or unhealthy)",
        "read the message; repeated restarts end in RestartBudgetExhausted",
    ),
    _doc(
        _R.ROLLED_BACK,
        (EVENT,),
        "the bot was rolled back to its last good revision",
        "see the RolledBack condition",
    ),
    _doc(
        _R.COMMAND_DELIVERED,
        (EVENT,),
        "the runtime accepted a command (pause, halt, reset-breaker, ...)",
        _NOTHING,
    ),
    _doc(
        _R.COMMAND_FAILED,
        (EVENT,),
        "a command could not be delivered; it is retried",
        "read the message",
    ),
    _doc(
        _R.CHILDREN_REMOVED,
        (EVENT,),
        "the bot or SignalSource moved to another region; this region's children were removed",
        _NOTHING,
    ),
    _doc(
        _R.PREVIOUS_RUNTIME_FORCE_DELETED,
        (EVENT,),
        "a runtime pod on a lost node was force-deleted",
        "check that node: its runtime may still run",
    ),
    _doc(_R.OPTIMIZATION_STARTED, (EVENT,), "an optimization Job started", _NOTHING),
    _doc(_R.OPTIMIZATION_FINISHED, (EVENT,), "an optimization Job wrote its result", _NOTHING),
    _doc(
        _R.OPTIMIZATION_RESULT_REJECTED,
        (EVENT,),
        "a result ConfigMap not written by the bot's own optimization Job (no ownerReference to "
        "that Job with its UID, or no valid digest) was ignored and deleted",
        "find who wrote it: only the operator's Jobs write results",
    ),
    _doc(
        _R.POSITIONS_KEPT,
        (EVENT,),
        "deletion with deletionPolicy Keep left the positions open",
        "manage them on the exchange",
    ),
    _doc(_R.POSITIONS_FLATTENED, (EVENT,), "deletion closed the bot's positions", _NOTHING),
    _doc(
        _R.FLATTEN_SKIPPED,
        (EVENT,),
        "deletion could not ask a runtime to flatten",
        "check the exchange for open positions",
    ),
    _doc(
        _R.REBALANCED,
        (EVENT,),
        "(ExchangeAccount) its capital was split again: by schedule, or a bot came or went",
        "nothing; each bot restarts with its new capital",
    ),
    _doc(
        _R.ACCOUNT_REARMED,
        (EVENT,),
        "(ExchangeAccount) the annotation tradefleet.io/rearm cleared a drawdown halt",
        _NOTHING,
    ),
    _doc(
        _R.FLATTEN_TIMED_OUT,
        (EVENT,),
        "positions were still open at the deletion deadline",
        "check the exchange for open positions",
    ),
    _doc(
        _R.FLATTEN_UNREACHABLE,
        (EVENT,),
        "deletion could not reach the runtime to flatten",
        "check the exchange for open positions",
    ),
)

PROBLEM_REASONS: tuple[ReasonDoc, ...] = tuple(
    _doc(
        problem,
        _READY_RECONCILED,
        PROBLEM_MEANINGS.get(problem, "a rule the CRD schema cannot check"),
        PROBLEM_FIXES.get(problem, "fix the field the message names"),
    )
    for problem in ProblemReason
)


def documented(reason: str) -> ReasonDoc | None:
    """The documentation of ``reason``, if it has any."""
    return next((d for d in (*REASONS, *PROBLEM_REASONS) if d.reason == reason), None)
