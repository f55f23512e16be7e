"""What each ``status.phase`` of the Tradefleet API means, in the words users read.

Rendered into docs/crd-reference.md and docs/troubleshooting.md by
:mod:`tradefleet_operator.spec.reference`; the kubectl plugin's answers quote them
(:mod:`tradefleet_kubectl.ask`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tradefleet_operator.spec.enums import AccountPhase, BotPhase, SignalSourcePhase

BOT_PHASES: Mapping[BotPhase, str] = MappingProxyType(
    {
        BotPhase.PENDING: "accepted, not yet running (credentials missing, pod not scheduled)",
        BotPhase.PROGRESSING: "a revision is rolling out",
        BotPhase.RUNNING: "the runtime is ready and trading",
        BotPhase.HALTED: "a circuit breaker is open or the kill switch is set",
        BotPhase.PAUSED: "spec.paused: no new positions",
        BotPhase.DEGRADED: "the restart budget is exhausted; the bot is stopped",
        BotPhase.FAILED: "the runtime cannot start: its image cannot be pulled or its container cannot be configured (see Ready)",
        BotPhase.NOT_OWNED: "belongs to another region's operator",
        BotPhase.INVALID: "the spec failed validation; see the Ready condition",
    }
)

SOURCE_PHASES: Mapping[SignalSourcePhase, str] = MappingProxyType(
    {
        SignalSourcePhase.PENDING: "the source's pod is not ready yet",
        SignalSourcePhase.PROGRESSING: "a change is rolling out",
        SignalSourcePhase.RUNNING: "publishing",
        SignalSourcePhase.PAUSED: "spec.paused",
        SignalSourcePhase.DEGRADED: "no value published within three intervals",
        SignalSourcePhase.FAILED: "cannot run",
        SignalSourcePhase.NOT_OWNED: "belongs to another region's operator (spec.region, or the region that claimed it in status.region)",
        SignalSourcePhase.INVALID: "the spec failed validation; see the Ready condition",
    }
)

ACCOUNT_PHASES: Mapping[AccountPhase, str] = MappingProxyType(
    {
        AccountPhase.READY: "its capital is allocated to its bots (status.bots)",
        AccountPhase.HALTED: "its drawdown limit was reached: every bot on it is halted",
        AccountPhase.INVALID: "the spec failed validation; see the Ready condition",
    }
)
