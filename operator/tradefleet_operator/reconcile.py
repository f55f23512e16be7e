"""Level-based reconciliation of one TradingBot or SignalSource: desired vs actual, repair, status.

Called by the pass loop (:mod:`tradefleet_operator.passes`) when the resource or one of its
children changes, and periodically; safe to run at any time and any number of times.
It reads the children from the operator's in-memory indexes, writes only what differs, and returns
the new status and the events to record. Problems with the user's resource never raise: they
become conditions with a reason.

A bot's pass is a list of named steps (:meth:`Reconciler.reconcile_bot`); the decisions are pure
functions elsewhere: revisions and rollbacks in :mod:`tradefleet_operator.revisions`, restarts and
commands in :mod:`tradefleet_operator.healing`, the status in :mod:`tradefleet_operator.bot_status`.
The writes and their caches are :mod:`tradefleet_operator.writes`, the runtime's API
:mod:`tradefleet_operator.commands`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import bot_status as bs
from tradefleet_operator.account_terms import AccountTerms, AccountView
from tradefleet_operator.bot_status import Refusal, SourceState
from tradefleet_operator.commands import RuntimeLink
from tradefleet_operator.conditions import Condition
from tradefleet_operator.guard import (
    guard_refused,
    kill_switch_control,
    missing_credentials,
    not_confirmed,
    not_owned,
    unreachable_because,
)
from tradefleet_operator.handover import Handover, hand_over
from tradefleet_operator.healing import (
    HealingDecision,
    assess_restarts,
    breaker_condition,
    pod_view,
    runtime_figures,
)
from tradefleet_operator.kill_switch import KillSwitch, decide_kill_switch, kill_switch_events
from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.optimizer import (
    ANNOTATION_OPTIMIZE_NOW,
    adopted_result,
    read_results,
    verified_result_maps,
    with_parameters,
)
from tradefleet_operator.optimizer_jobs import OptimizerInputs, run_optimizer
from tradefleet_operator.outcome import Event, Outcome, finish, normal, warning
from tradefleet_operator.pass_state import Acted, BotPass, Observed, Plan
from tradefleet_operator.redis_users import bot_user, redis_users_for
from tradefleet_operator.render import (
    ANNOTATION_REVISION,
    LABEL_OPTIMIZER_RESULT,
    Owner,
    render_bot_children,
    render_controller_revision,
    render_runtime_config,
    revision_name,
)
from tradefleet_operator.render_optimizer import render_optimizer_access
from tradefleet_operator.revisions import (
    RollbackDecision,
    RolloutSlots,
    decide_rollback,
    next_look_s,
    plan_revision,
    plan_rollout,
    revision_content,
    running_image,
    startable,
)
from tradefleet_operator.runtime_client import RuntimeClient
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.sources import reconcile_source
from tradefleet_operator.spec import (
    ProblemReason,
    RegionUnresolvedError,
    SpecError,
    TradingBotSpec,
    ValidationProblem,
    parse_trading_bot_spec,
    resolve_region,
    shared_market_problem,
    validate_image,
    validate_resource_name,
    validate_trading_bot_spec,
)
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.succession import runtime_pods
from tradefleet_operator.trading import runtime_state, trading_condition
from tradefleet_operator.writes import ChildKey, ChildWriter, of_kind, owner_of

__all__ = ["PassFailedError", "Reconciler"]

log = logging.getLogger("tradefleet.operator")


class PassFailedError(Exception):
    """A pass over a bot this operator runs failed on the API: the outcome that says so, written
    before the loop retries."""

    def __init__(self, *, outcome: Outcome, error: KubeApiError) -> None:
        super().__init__(str(error))
        self.outcome = outcome
        self.error = error


class Reconciler:
    """Reconciles bots and sources; one instance per operator process."""

    def __init__(self, *, kube: KubeClient, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.runtime = RuntimeClient()
        self.writer = ChildWriter(kube=kube, settings=settings)
        self.link = RuntimeLink(kube=kube, client=self.runtime, settings=settings)
        self.rollouts = RolloutSlots(limit=settings.max_concurrent_rollouts)
        self.redis_users = redis_users_for(settings=settings, kube=kube)
        # Parsed spec and its problems per bot uid, for the generation they were parsed at.
        self._specs: dict[str, tuple[int, TradingBotSpec | None, Sequence[ValidationProblem]]] = {}

    # -- TradingBot ---------------------------------------------------------------------------

    async def reconcile_bot(
        self,
        *,
        body: Mapping[str, Any],
        children: Mapping[ChildKey, Mapping[str, Any]],
        sources: Mapping[str, SourceState],
        symbol_holders: Sequence[str] = (),
        account: AccountView | None = None,
    ) -> Outcome:
        admitted = await self._admit(
            body=body, children=children, symbol_holders=symbol_holders, account=account
        )
        if not isinstance(admitted, BotPass):
            self.rollouts.release(str(body["metadata"]["uid"]))
        if isinstance(admitted, Outcome):
            return admitted
        if isinstance(admitted, Refusal):
            return await guard_refused(
                link=self.link,
                kube=self.kube,
                settings=self.settings,
                body=body,
                children=children,
                refusal=admitted,
            )
        try:
            return await self._run(bot=admitted, sources=sources)
        except KubeApiError as exc:
            # The owner's writes failed: say so on the bot, not only in the log (and never
            # leave its status to another region's operator).
            raise PassFailedError(
                outcome=bs.apply_failed(body=body, region=admitted.region, error=str(exc)),
                error=exc,
            ) from exc

    async def _run(self, *, bot: BotPass, sources: Mapping[str, SourceState]) -> Outcome:
        """The steps of a pass over a bot this operator runs."""
        plan = self._plan(bot=bot, key=await self._result_key(bot=bot))
        observed = await self._observe(bot=bot, plan=plan)
        healing, kill, handover = await self._heal(bot=bot, observed=observed)
        acted = await self._act(
            bot=bot, plan=plan, observed=observed, healing=healing, kill=kill, handover=handover
        )
        return self._conclude(
            bot=bot,
            plan=plan,
            observed=observed,
            healing=healing,
            kill=kill,
            handover=handover,
            acted=acted,
            sources=sources,
        )

    async def _admit(
        self,
        *,
        body: Mapping[str, Any],
        children: Mapping[ChildKey, Mapping[str, Any]],
        symbol_holders: Sequence[str],
        account: AccountView | None,
    ) -> BotPass | Outcome | Refusal:
        """The pass to run; or the outcome of another region's bot; or why this operator does not
        run a bot that may be its own (invalid, missing its credentials, its symbol traded on
        its account by ``symbol_holders``, bots created before it, in any region, or waiting
        for the ExchangeAccount ``account`` its spec names)."""
        spec, problems = self._parsed_spec(body=body)
        if symbol_holders:
            problems = [*problems, shared_market_problem(spec=body["spec"], holders=symbol_holders)]
        region: str | None = None
        if spec is not None:
            try:
                region = resolve_region(
                    spec=spec, exchange_region_map=self.settings.exchange_regions
                )
            except RegionUnresolvedError as exc:
                problem = ValidationProblem(
                    field="spec.region", reason=ProblemReason.REGION_UNRESOLVED, message=str(exc)
                )
                problems = [*problems, problem]
        if spec is None or region is None or problems:
            # Every region's operator says the same of an invalid bot, its region included when
            # known: none writes over another's status.
            return bs.invalid_refusal(body=body, problems=problems, region=region)
        if region != self.settings.region:
            return await not_owned(writer=self.writer, body=body, region=region, children=children)
        # The region's own operator judges the image: each region's may allow other prefixes.
        image = validate_image(
            field="spec.image", image=spec.image, allowed_prefixes=self.settings.image_prefixes()
        )
        if image:
            return bs.invalid_refusal(body=body, problems=image, region=region)
        terms: AccountTerms | None = None
        if spec.account_ref is not None:
            bound = bs.on_account(body=body, spec=spec, view=account, region=region)
            if isinstance(bound, Refusal):
                return bound
            spec, terms = bound
        owner = owner_of(body)
        missing = await missing_credentials(kube=self.kube, owner=owner, spec=spec)
        if missing:
            return bs.pending_refusal(
                body=body, reason=Reason.CREDENTIALS_MISSING, message=missing, region=region
            )
        return BotPass(
            body=body,
            owner=owner,
            spec=spec,
            terms=terms,
            region=region,
            children=children,
            now=datetime.now(UTC),
        )

    async def _result_key(self, *, bot: BotPass) -> str | None:
        """The key the bot's optimization Jobs sign their results with (its control token), read
        only when a result is there to verify."""
        if any(
            LABEL_OPTIMIZER_RESULT in (o["metadata"].get("labels") or {})
            for o in of_kind(bot.children, "ConfigMap")
        ):
            return await self.link.token(owner=bot.owner)
        return None

    def _plan(self, *, bot: BotPass, key: str | None) -> Plan:
        """The revision to roll out: the spec's, with an adopted optimization, unless pinned."""
        result_maps = [
            obj
            for obj in of_kind(bot.children, "ConfigMap")
            if LABEL_OPTIMIZER_RESULT in (obj["metadata"].get("labels") or {})
        ]
        # Only what the bot's own Jobs wrote (a forged result is reported and deleted by
        # run_optimizer).
        results = read_results(
            verified_result_maps(
                config_maps=result_maps, jobs=of_kind(bot.children, "Job"), key=key
            )
        )
        adopted = adopted_result(results=results, raw_spec=bot.raw_spec)
        config = render_runtime_config(
            owner=bot.owner,
            spec=bot.spec,
            raw_spec=with_parameters(raw_spec=bot.runtime_spec, parameters=adopted.parameters)
            if adopted
            else bot.runtime_spec,
            settings=self.settings,
            request_interval_ms=bot.terms.request_interval_ms if bot.terms else None,
            order_interval_ms=bot.terms.order_interval_ms if bot.terms else None,
            market_key=bot.terms.market_key if bot.terms else None,
        )
        kept = of_kind(bot.children, "ControllerRevision")
        image = bot.spec.image or self.settings.runtime_image
        revision = plan_rollout(
            plan=plan_revision(
                content=revision_content(
                    config=config, raw_spec=bot.raw_spec, adopted=adopted, image=image
                ),
                spec=bot.spec,
                kept=kept,
                previous_status=bot.previous,
                now=bot.now,
                deployment=bot.children.get(bot.workload),
            ),
            kept=kept,
            previous_status=bot.previous,
            slots=self.rollouts,
            uid=bot.owner.uid,
            running_image=running_image(bot.children.get(bot.workload)),
        )
        return Plan(
            revision=revision,
            kept=kept,
            results=results,
            adopted=adopted,
            result_maps=result_maps,
        )

    async def _observe(self, *, bot: BotPass, plan: Plan) -> Observed:
        """The bot's runtime pods and, when its current pod runs, the runtime's /status."""
        # Terminating ones included: until every one is gone, no new runtime may start.
        pods = runtime_pods(pods=of_kind(bot.children, "Pod"), deployment=bot.workload[1])
        number = str(plan.revision.revision.number)
        current = [
            p
            for p in pods
            if not p.get("metadata", {}).get("deletionTimestamp")
            and (p.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_REVISION) == number
        ]
        pod = pod_view(current[0]) if current else None
        runtime = await self.link.poll(pod=pod, owner=bot.owner)
        return Observed(pods=pods, current_pods=current, pod=pod, runtime=runtime)

    async def _heal(
        self, *, bot: BotPass, observed: Observed
    ) -> tuple[HealingDecision, KillSwitch, Handover]:
        """Count restarts, replace a hung runtime, stop one that does not take the kill switch, and
        hold a new one back while an old one exists."""
        healing = assess_restarts(
            policy=bot.spec.self_healing,
            previous=bot.previous.get("selfHealing") or {},
            generation=bot.generation,
            pod=observed.pod,
            runtime=observed.runtime,
            pods_exist=bool(observed.pods),
            now=bot.now,
        )
        kill = decide_kill_switch(
            annotations=bot.annotations,
            previous=(bot.previous.get("control") or {}).get("killSwitch") or {},
            runtime=observed.runtime_status,
            unreachable=unreachable_because(pod=observed.pod, runtime=observed.runtime),
            bound_s=self.settings.kill_switch_unreachable_s,
            now=bot.now,
        )
        handover = await hand_over(
            kube=self.kube,
            settings=self.settings,
            namespace=bot.owner.namespace,
            pods=observed.pods,
            wanted=0 if kill.scale_to_zero else healing.replicas,
            replacing=bool(healing.state.get("replacing")),
            deployment=self.writer.observed(
                namespace=bot.owner.namespace,
                key=bot.workload,
                indexed=bot.children.get(bot.workload),
            ),
            now=bot.now,
        )
        return healing, kill, handover

    async def _ensure_access(self, *, owner: Owner, config: Mapping[str, Any]) -> int:
        """The bot's control-token Secret, and its Redis user for the revision it runs (with
        ``redisAcl``); how many objects were written."""
        writes = await self.writer.ensure_control_secret(owner=owner)
        users = self.redis_users
        if users is None:
            return writes
        user = bot_user(admin_password=users.admin_password, owner=owner, config=config)
        return writes + await users.ensure(owner=owner, user=user)

    async def _act(
        self,
        *,
        bot: BotPass,
        plan: Plan,
        observed: Observed,
        healing: HealingDecision,
        kill: KillSwitch,
        handover: Handover,
    ) -> Acted:
        """Write the children, run the optimizer, deliver the runtime's commands."""
        owner, revision = bot.owner, plan.revision.revision
        optimizing = bot.spec.optimizer.enabled or bool(
            bot.annotations.get(ANNOTATION_OPTIMIZE_NOW)
        )
        desired = [
            render_controller_revision(owner=owner, revision=revision),
            *render_bot_children(
                owner=owner,
                spec=plan.revision.workload_spec,
                region=bot.region,
                revision=revision,
                replicas=handover.replicas,
                settings=self.settings,
                image=plan.revision.image,
            ),
            *(render_optimizer_access(owner=owner) if optimizing else []),
        ]
        events = [Event(type=n.type, reason=n.reason, message=n.message) for n in handover.notices]
        converged = await self.writer.converge(
            desired=desired,
            children=bot.children,
            was_reconciled=bool(bot.previous.get("currentRevision")),
            # The token Secret and the Redis user before the Deployment: the pod reads them.
            prerequisites=self._ensure_access(owner=owner, config=revision.config),
        )
        writes = converged.writes
        events.extend(converged.events)
        writes += await self.writer.prune_revisions(
            owner=owner,
            kept=plan.kept,
            current=revision.number,
            keep=bot.previous.get("lastGoodRevision"),
        )
        if plan.revision.is_new and revision.number > 1:
            # A new bot's first revision is no decision of the operator's: the user created
            # the bot, and its status says which revision runs.
            events.append(
                normal(
                    Reason.REVISION_CREATED,
                    f"revision {revision.number} ({revision.config_hash}) rolling out",
                )
            )
        optimizer = await run_optimizer(
            writer=self.writer,
            inputs=OptimizerInputs(
                owner=owner,
                spec=bot.spec,
                raw_spec=bot.raw_spec,
                body=bot.body,
                results=plan.results,
                adopted=plan.adopted,
                result_maps=plan.result_maps,
                jobs=of_kind(bot.children, "Job"),
                pods=of_kind(bot.children, "Pod"),
                now=bot.now,
                enabled=optimizing,
            ),
        )
        events.extend(optimizer.events)
        writes += optimizer.writes
        events.extend(
            warning(Reason.BOT_RESTARTED, bs.restart_message(cause, healing))
            for cause in healing.restarted
        )
        control = dict(bot.previous.get("control") or {})
        if observed.runtime_status is not None:
            events.extend(
                await self.link.deliver(
                    owner=owner,
                    pod=observed.pod,
                    paused=bot.spec.paused,
                    annotations=bot.annotations,
                    control=control,
                    runtime=observed.runtime_status,
                )
            )
        events.extend(kill_switch_events(previous=control.get("killSwitch") or {}, kill=kill))
        return Acted(
            events=events,
            writes=writes,
            children=len(desired) + 1,
            revision=converged.children.get(
                ("ControllerRevision", revision_name(owner=owner, revision=revision))
            ),
            optimizer=optimizer.status,
            control=kill_switch_control(
                control=control, kill=kill, runtime=observed.runtime_status
            ),
        )

    def _conclude(
        self,
        *,
        bot: BotPass,
        plan: Plan,
        observed: Observed,
        healing: HealingDecision,
        kill: KillSwitch,
        handover: Handover,
        acted: Acted,
        sources: Mapping[str, SourceState],
    ) -> Outcome:
        """The status, the rollback it may call for, and when to look again."""
        revision = plan.revision.revision
        observed_conditions, figures, trading, workload = self._conditions_observed(
            bot=bot,
            plan=plan,
            observed=observed,
            healing=healing,
            kill=kill,
            handover=handover,
            acted=acted,
        )
        # Whether the revision rolled out and runs: what rollbacks and the last good revision go by.
        workload_ready = next(c for c in workload if c.type == ConditionType.READY).status is True
        revision_plan = startable(
            plan=plan.revision, waiting_for_previous=handover.waiting, now=bot.now
        )
        rollback = decide_rollback(
            plan=revision_plan,
            ready=workload_ready,
            ready_message=bs.ready_message(workload),
            previous_status=bot.previous,
            policy=bot.spec.self_healing,
            now=bot.now,
        )
        if rollback.rolled_back_now or rollback.last_good == revision.number:
            self.rollouts.release(bot.owner.uid)
        events = list(acted.events)
        self_healing = healing.state
        if rollback.rolled_back_now:
            # Restarts of the failed revision say nothing about the last good one: fresh budget.
            self_healing = {
                k: v for k, v in healing.state.items() if k != "degradedAtGeneration"
            } | {"recentRestarts": []}
            events.append(
                warning(
                    Reason.ROLLED_BACK,
                    f"rolled back to revision {rollback.last_good}: {rollback.rollback['reason']}",
                )
            )
        observed_conditions.append(
            bs.rolled_back_condition(
                rollback=rollback.rollback,
                pinned=plan.revision.pinned or rollback.rolled_back_now,
            )
        )
        source_rows, source_condition = bs.signal_sources(spec=bot.spec, sources=sources)
        if source_condition is not None:
            observed_conditions.append(source_condition)
        phase = bs.bot_phase(
            observed=observed_conditions,
            paused=bot.spec.paused,
            degraded=healing.degraded,
            halted=kill.halted,
            workload_ready=workload_ready,
            trading=trading,
        )
        status = bs.bot_status(
            parts=bs.BotStatusParts(
                previous=bot.previous,
                figures=figures,
                region=bot.region,
                plan=revision_plan,
                kept=_kept_now(bot=bot, plan=plan, acted=acted),
                sources=source_rows,
                self_healing=self_healing,
                control=acted.control,
                optimizer=acted.optimizer,
                rollback=rollback,
            ),
            phase=phase,
        )
        outcome = finish(
            body=bot.body,
            observed=observed_conditions,
            status=status,
            events=events,
            writes=acted.writes,
        )
        outcome.restarts = list(healing.restarted)
        outcome.rolled_back = rollback.rolled_back_now
        outcome.poll_again_s = _next_look(
            rollback=rollback,
            observed=observed,
            handover=handover,
            kill=kill,
            settings=self.settings,
        )
        return outcome

    def _conditions_observed(
        self,
        *,
        bot: BotPass,
        plan: Plan,
        observed: Observed,
        healing: HealingDecision,
        kill: KillSwitch,
        handover: Handover,
        acted: Acted,
    ) -> tuple[list[Condition], dict[str, Any], Condition, list[Condition]]:
        """The conditions observed this pass (workload, trading, kill switch, healing, breaker,
        children, pause, rollout queue), the status figures, the Trading condition, and the
        workload's own conditions (whether the revision rolled out and runs)."""
        revision = plan.revision.revision
        # A Deployment this pass has just created is waiting for its pod: saying so now spares
        # the next pass a status write that would say only that.
        deployment = bot.children.get(bot.workload) or self.writer.observed(
            namespace=bot.owner.namespace, key=bot.workload, indexed=None
        )
        workload = handover.over(
            bs.workload_conditions(
                deployment=deployment, pods=observed.current_pods, revision=revision
            )
        )
        trading = trading_condition(pod=observed.pod, runtime=observed.runtime)
        observed_conditions = bs.with_trading(observed=workload, trading=trading)
        if kill.scale_to_zero:
            observed_conditions.append(not_confirmed(kill))
        figures = bs.pod_figures(pods=observed.current_pods, revision=revision)
        if observed.runtime_status is not None:
            figures.update(runtime_figures(observed.runtime_status))
            figures["runtime"] = runtime_state(observed.runtime_status)
        # The restarts in the window, a rollback's fresh budget notwithstanding.
        figures["restarts"] = len(healing.state.get("recentRestarts") or [])
        observed_conditions.extend(healing.conditions)
        observed_conditions.append(
            breaker_condition(observed.runtime_status, bot.previous.get("circuitBreaker"))
        )
        observed_conditions.append(
            bs.reconciled_condition(children=acted.children, revision=revision)
        )
        observed_conditions.append(bs.paused_condition(paused=bot.spec.paused))
        if plan.revision.queued:
            observed_conditions = bs.rollout_queued(
                observed=observed_conditions, slots=self.rollouts, region=bot.region
            )
        return observed_conditions, figures, trading, workload

    def _parsed_spec(
        self, *, body: Mapping[str, Any]
    ) -> tuple[TradingBotSpec | None, Sequence[ValidationProblem]]:
        """The bot's parsed spec and its problems, computed once per generation: most passes are
        woken by child or status changes, and parsing is the costliest step of a steady pass."""
        uid = str(body["metadata"]["uid"])
        generation = int(body["metadata"].get("generation") or 0)
        cached = self._specs.get(uid)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        spec: TradingBotSpec | None
        problems: Sequence[ValidationProblem]
        try:
            spec = parse_trading_bot_spec(body.get("spec") or {})
            problems = validate_trading_bot_spec(spec)
        except SpecError as exc:
            spec = None
            problems = [bs.spec_problem(exc)]
        problems = [*validate_resource_name(str(body["metadata"]["name"])), *problems]
        self._specs[uid] = (generation, spec, problems)
        return spec, problems

    def child_observed(self, *, obj: Mapping[str, Any], deleted: bool = False) -> bool:
        """The watch delivered a child; whether it is the echo of our own write (see
        :meth:`ChildWriter.child_observed`)."""
        return self.writer.child_observed(obj=obj, deleted=deleted)

    def forget(self, *, uid: str) -> None:
        """Drop per-bot memory when a bot is deleted or its daemon restarts."""
        self.writer.forget(uid=uid)
        self.link.forget(uid=uid)
        self.rollouts.release(uid)
        self._specs.pop(uid, None)
        if self.redis_users is not None:
            self.redis_users.forget(uid=uid)

    # -- SignalSource -------------------------------------------------------------------------

    async def reconcile_source(
        self,
        *,
        body: Mapping[str, Any],
        children: Mapping[ChildKey, Mapping[str, Any]],
        consumers: int,
    ) -> Outcome:
        return await reconcile_source(
            writer=self.writer,
            link=self.link,
            redis_users=self.redis_users,
            body=body,
            children=children,
            consumers=consumers,
        )


def _kept_now(*, bot: BotPass, plan: Plan, acted: Acted) -> list[Mapping[str, Any]]:
    """The kept revisions as this pass leaves them: with the current one it has just written,
    stamped by the apiserver, whose creation time the next pass reads from the index (the
    operator's clock would give another: a second status write of the same history)."""
    key = ("ControllerRevision", revision_name(owner=bot.owner, revision=plan.revision.revision))
    if key in bot.children or acted.revision is None:
        return list(plan.kept)
    return [*plan.kept, acted.revision]


def _next_look(
    *,
    rollback: RollbackDecision,
    observed: Observed,
    handover: Handover,
    kill: KillSwitch,
    settings: OperatorSettings,
) -> float | None:
    return next_look_s(
        kill_due_s=kill.due_s,
        rolled_back_now=rollback.rolled_back_now,
        # Only a running runtime has a health to poll; a pending or crashing pod's changes
        # arrive as watch events. A wait for an old pod (a replacement's too) is looked at
        # again: a lost node's bound passes without any event.
        polling=(observed.pod is not None and observed.pod.running) or handover.waiting,
        rollback_due_s=None if rollback.rolled_back_now else rollback.due_s,
        settings=settings,
    )
