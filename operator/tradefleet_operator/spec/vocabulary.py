"""The status vocabulary of the Tradefleet API: condition types and reasons, in one place.

Every condition ``type`` and condition or event ``reason`` the operator writes comes from here
(the phases are :mod:`tradefleet_operator.spec.enums`', documented in
:mod:`tradefleet_operator.spec.phases`): the status builders (:mod:`tradefleet_operator.bot_status`,
:mod:`tradefleet_operator.source_status`) and every module that records an event use these enums,
and their meanings and actions are documented in :mod:`tradefleet_operator.spec.reason_docs`,
so a user looking up a reason finds what it means and what to do. Validation problems keep their
own enum (:class:`~tradefleet_operator.spec.validation.ProblemReason`, the ``Invalid`` reasons),
documented there too. tests/unit/api checks that every reason is documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class ConditionType(StrEnum):
    """The condition types of a TradingBot or SignalSource, in the order they are listed."""

    READY = "Ready"
    TRADING = "Trading"
    RECONCILED = "Reconciled"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    CIRCUIT_BREAKER_OPEN = "CircuitBreakerOpen"
    ROLLED_BACK = "RolledBack"
    PAUSED = "Paused"
    SIGNAL_SOURCES_READY = "SignalSourcesReady"
    NOTIFICATIONS_DELIVERED = "NotificationsDelivered"
    # ExchangeAccount: its drawdown limit halted every bot on it; its shared market data; whether
    # the exchange holds what it allocates.
    HALTED = "Halted"
    MARKET_DATA_READY = "MarketDataReady"
    FUNDED = "Funded"


class Reason(StrEnum):
    """Every reason of a condition or an event the operator writes (validation problems aside)."""

    # Ready / Reconciled
    RUNTIME_AVAILABLE = "RuntimeAvailable"
    WORKLOAD_CREATING = "WorkloadCreating"
    WAITING_FOR_POD = "WaitingForPod"
    UNSCHEDULABLE = "Unschedulable"
    POD_NOT_READY = "PodNotReady"
    CREDENTIALS_MISSING = "CredentialsMissing"
    ACCOUNT_NOT_FOUND = "AccountNotFound"
    ACCOUNT_NOT_READY = "AccountNotReady"
    ALLOCATION_PENDING = "AllocationPending"
    OWNED_BY_OTHER_REGION = "OwnedByOtherRegion"
    CHILDREN_IN_SYNC = "ChildrenInSync"
    APPLY_FAILED = "ApplyFailed"
    WAITING_FOR_PREVIOUS_RUNTIME = "WaitingForPreviousRuntime"
    # Ready: the kubelet's own words for a container that keeps ending or cannot start
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    ERR_IMAGE_PULL = "ErrImagePull"
    INVALID_IMAGE_NAME = "InvalidImageName"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    RUN_CONTAINER_ERROR = "RunContainerError"
    # Progressing
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLOUT_QUEUED = "RolloutQueued"
    # Degraded
    RESTART_BUDGET_EXHAUSTED = "RestartBudgetExhausted"
    WITHIN_RESTART_BUDGET = "WithinRestartBudget"
    # CircuitBreakerOpen
    CLOSED = "Closed"
    DRAWDOWN = "Drawdown"
    DAILY_LOSS = "DailyLoss"
    CONSECUTIVE_LOSSES = "ConsecutiveLosses"
    ATR = "Atr"
    TRIPPED = "Tripped"
    # RolledBack
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    ROLLED_FORWARD = "RolledForward"
    NO_ROLLBACK = "NoRollback"
    # Paused
    PAUSED_BY_SPEC = "PausedBySpec"
    TRADING = "Trading"
    # Trading: the runtime's reasons (tradefleet_runtime.service.trading_state), then the operator's
    STANDBY = "Standby"
    KILL_SWITCH = "KillSwitch"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    RUNTIME_HALTED = "RuntimeHalted"
    STARTING = "Starting"
    STATE_STORE_UNAVAILABLE = "StateStoreUnavailable"
    POSITION_UNPROTECTED = "PositionUnprotected"
    BREAKER_OPEN = "CircuitBreakerOpen"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    ORDERS_UNRESOLVED = "OrdersUnresolved"
    PAUSED_BY_USER = "PausedByUser"
    MARKET_DATA_STALE = "MarketDataStale"
    RATE_LIMITED = "RateLimited"
    RUNTIME_NOT_RUNNING = "RuntimeNotRunning"
    RUNTIME_UNREACHABLE = "RuntimeUnreachable"
    TRADING_STATE_UNKNOWN = "TradingStateUnknown"
    # SignalSourcesReady
    ALL_SOURCES_READY = "AllSourcesReady"
    SIGNAL_SOURCE_MISSING = "SignalSourceMissing"
    SIGNAL_SOURCE_NOT_READY = "SignalSourceNotReady"
    # NotificationsDelivered
    NOTIFICATIONS_DELIVERED = "NotificationsDelivered"
    NOTIFICATION_TARGET_FAILING = "NotificationTargetFailing"
    NOTIFICATION_SECRET_MISSING = "NotificationSecretMissing"
    NOTIFICATION_CONFIG_INVALID = "NotificationConfigInvalid"
    # SignalSource Ready
    PUBLISHING = "Publishing"
    NOT_PUBLISHING = "NotPublishing"
    PAUSED = "Paused"
    # ExchangeAccount Ready and Halted
    ALLOCATED = "Allocated"
    ACCOUNT_DRAWDOWN_LIMIT = "AccountDrawdownLimit"
    WITHIN_DRAWDOWN_LIMIT = "WithinDrawdownLimit"
    # ExchangeAccount Funded (and an event when it turns False)
    BALANCE_COVERS_ALLOCATION = "BalanceCoversAllocation"
    ALLOCATION_EXCEEDS_BALANCE = "AllocationExceedsBalance"
    BALANCE_NOT_REPORTED = "BalanceNotReported"
    SIMULATED_WALLETS = "SimulatedWallets"
    # Ready, while the kill switch could not be confirmed
    KILL_SWITCH_NOT_CONFIRMED = "KillSwitchNotConfirmed"
    # Events only
    KILL_SWITCH_HALTED = "KillSwitchHalted"
    KILL_SWITCH_FLATTEN_FAILED = "KillSwitchFlattenFailed"
    FLATTEN_STARTED = "FlattenStarted"
    FLATTEN_FAILED = "FlattenFailed"
    REVISION_CREATED = "RevisionCreated"
    DRIFT_REPAIRED = "DriftRepaired"
    BOT_RESTARTED = "BotRestarted"
    ROLLED_BACK = "RolledBack"
    COMMAND_DELIVERED = "CommandDelivered"
    COMMAND_FAILED = "CommandFailed"
    CHILDREN_REMOVED = "ChildrenRemoved"
    PREVIOUS_RUNTIME_FORCE_DELETED = "PreviousRuntimeForceDeleted"
    OPTIMIZATION_STARTED = "OptimizationStarted"
    OPTIMIZATION_FINISHED = "OptimizationFinished"
    OPTIMIZATION_FAILED = "OptimizationFailed"
    OPTIMIZATION_RESULT_REJECTED = "OptimizationResultRejected"
    POSITIONS_KEPT = "PositionsKept"
    POSITIONS_FLATTENED = "PositionsFlattened"
    FLATTEN_SKIPPED = "FlattenSkipped"
    REBALANCED = "Rebalanced"
    ACCOUNT_REARMED = "AccountRearmed"
    FLATTEN_TIMED_OUT = "FlattenTimedOut"
    FLATTEN_UNREACHABLE = "RuntimeUnreachableError"


EVENT = "event"
# The status of each condition type that asks for a look (Progressing has none: a rollout under
# way). The kubectl plugin and docs/troubleshooting.md read it.
TROUBLE_STATUS: Mapping[ConditionType, str] = MappingProxyType(
    {
        ConditionType(name): status
        for names, status in (
            (("Ready", "Trading", "Reconciled", "SignalSourcesReady", "MarketDataReady"), "False"),
            (("Funded",), "False"),
            (("NotificationsDelivered",), "False"),
            (("Degraded", "CircuitBreakerOpen", "RolledBack", "Paused", "Halted"), "True"),
        )
        for name in names
    }
)


# The reasons of an open circuit breaker, in status.circuitBreaker.reason and the condition: the
# runtime's words (tradefleet_runtime.risk.breakers.BreakerReason) in CamelCase.
BREAKER_REASONS: tuple[Reason, ...] = (
    Reason.DRAWDOWN,
    Reason.DAILY_LOSS,
    Reason.CONSECUTIVE_LOSSES,
    Reason.ATR,
    Reason.TRIPPED,
)


def breaker_reason(runtime_reason: object) -> Reason:
    """The condition reason of a runtime's breaker reason (``daily_loss`` -> ``DailyLoss``)."""
    word = "".join(part.capitalize() for part in str(runtime_reason or "").split("_"))
    return next((r for r in BREAKER_REASONS if r == word), Reason.TRIPPED)
