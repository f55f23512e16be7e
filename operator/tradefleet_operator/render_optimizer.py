"""Desired state of a bot's optimization: the Jobs' identity (ServiceAccount, Role, RoleBinding,
NetworkPolicy) and one Job per run.

Pure functions, no I/O, like :mod:`tradefleet_operator.render`, whose helpers they share: the
reconciler (:mod:`tradefleet_operator.reconcile`) applies the identity while optimization is on,
and :mod:`tradefleet_operator.optimizer_jobs` creates the Job of each run that is due.

An optimizer's pods carry the bot's label (the operator finds its Jobs and their pods by it), never
the bot's name label: the bot's Deployment, Service and NetworkPolicy select ``tradefleet-bot``
pods, and a backtest must never pass for the bot's runtime.
"""

from __future__ import annotations

from typing import Any

from tradefleet_api import content_hash

from tradefleet_operator.render import (
    CONFIG_FILE,
    CONFIG_MOUNT,
    CONTROL_TOKEN_KEY,
    LABEL_BOT,
    LABEL_COMPONENT,
    LABEL_NAME,
    Owner,
    bot_labels,
    child_metadata,
    child_name,
    container_security,
    pod_security,
    redis_env,
    region_affinity,
)
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import TradingBotSpec

# How long the newest finished optimization Job (and its pod, with its logs) is kept, unless its
# result is kept (then as long as the result).
OPTIMIZER_JOB_TTL_S = 3600
OPTIMIZER_NAME = "tradefleet-optimizer"


def optimizer_labels(*, bot: str) -> dict[str, str]:
    """An optimization Job's and its pods' labels: the bot's, named and marked as the optimizer."""
    return {**bot_labels(bot=bot), LABEL_NAME: OPTIMIZER_NAME, LABEL_COMPONENT: "optimizer"}


def render_optimizer_access(*, owner: Owner) -> list[dict[str, Any]]:
    """The identity optimization Jobs run as: allowed to create ConfigMaps (their results), nothing
    else, and the NetworkPolicy of their pods."""
    labels = bot_labels(bot=owner.name)
    name = child_name(owner=owner.name, suffix="optimizer")
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            # No caller; out to DNS, HTTPS (the exchange's candles, the API for its result) and
            # Redis, as the bot's runtime.
            "spec": {
                "podSelector": {"matchLabels": {LABEL_BOT: owner.name, LABEL_NAME: OPTIMIZER_NAME}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {
                        "ports": [
                            {"protocol": "TCP", "port": 443},
                            {"protocol": "TCP", "port": 6379},
                        ]
                    },
                ],
            },
        },
    ]


def optimizer_job_name(*, owner: Owner, run: str) -> str:
    return child_name(owner=owner.name, suffix=f"opt-{_run_hash(run)[:8]}")


def _run_hash(run: str) -> str:
    return content_hash({"run": run})


def optimizer_seed(*, spec: TradingBotSpec, run: str) -> int:
    """``spec.optimizer.seed``, or one derived from the run, so each run searches afresh."""
    if spec.optimizer.seed is not None:
        return spec.optimizer.seed
    return int(_run_hash(run)[:8], 16) & 0x7FFF_FFFF


def render_optimizer_job(
    *, owner: Owner, spec: TradingBotSpec, run: str, based_on: str, settings: OperatorSettings
) -> dict[str, Any]:
    """One optimization run: backtests on recent candles and writes its result as a ConfigMap."""
    labels = optimizer_labels(bot=owner.name)
    name = optimizer_job_name(owner=owner, run=run)
    env = [
        {"name": "TRADEFLEET_CONFIG", "value": f"{CONFIG_MOUNT}/{CONFIG_FILE}"},
        {
            "name": "TRADEFLEET_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
        {"name": "TRADEFLEET_OPTIMIZER_JOB", "value": name},
        {"name": "TRADEFLEET_OPTIMIZER_RESULT", "value": f"{name}-result"},
        {"name": "TRADEFLEET_OPTIMIZER_BASED_ON", "value": based_on},
        {"name": "TRADEFLEET_OPTIMIZER_SEED", "value": str(optimizer_seed(spec=spec, run=run))},
        {"name": "TRADEFLEET_OWNER_UID", "value": owner.uid},
        # The result must prove it is this Job's: owned by the Job (its UID, which the Job
        # controller puts on its pods as a label) and signed with the bot's control token.
        {
            "name": "TRADEFLEET_OPTIMIZER_JOB_UID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['controller-uid']"}},
        },
        {
            "name": "TRADEFLEET_OPTIMIZER_KEY",
            "valueFrom": {
                "secretKeyRef": {
                    "name": child_name(owner=owner.name, suffix="control"),
                    "key": CONTROL_TOKEN_KEY,
                }
            },
        },
        *({"name": k, "value": v} for k, v in sorted(settings.runtime_env.items())),
        # Only a bot that weights the ML input has its Job write to its Redis keys (the model).
        *(redis_env(owner=owner, settings=settings) if spec.strategy.fusion_weights.ml > 0 else []),
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(
            owner=owner, name=name, labels=labels, annotations={"tradefleet.io/optimizer-run": run}
        ),
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 3600,
            # No ttlSecondsAfterFinished: a Job owns its result, which is trusted only while the
            # Job exists. The operator deletes finished Jobs itself, all but the newest (after
            # OPTIMIZER_JOB_TTL_S) and those whose results it keeps; what they did stays in
            # status.optimizer.
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": child_name(owner=owner.name, suffix="optimizer"),
                    # In the operator's (and so the bot's) region, near the exchange it reads.
                    "affinity": region_affinity(settings.region),
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "optimizer",
                            # A bot's own image must then carry the research extra too.
                            "image": spec.image or settings.optimizer_image,
                            "command": [*settings.runtime_command, "optimize"],
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "512Mi"},
                                "limits": {"memory": "2Gi"},
                            },
                            "securityContext": container_security(),
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "config",
                            "configMap": {"name": child_name(owner=owner.name, suffix="config")},
                        },
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
