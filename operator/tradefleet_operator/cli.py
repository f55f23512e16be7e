"""The operator's command line: run the operator for one region.

Called by the entry point (:mod:`tradefleet_operator.__main__`) of the operator image and of
the local demo. Reads the settings file the Helm chart renders, applies command-line overrides,
reads the apiserver access (:mod:`tradefleet_operator.access`), and runs Kopf with the handlers
of :mod:`tradefleet_operator.handlers`. Settings, a Redis admin password or an access that
cannot be used end the process with exit code 2 and the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import kopf

# Imported for its decorators: they register the operator's handlers with Kopf.
from tradefleet_operator import handlers  # noqa: F401
from tradefleet_operator.access import AccessError, read_access
from tradefleet_operator.passes import OperatorState
from tradefleet_operator.redis_users import RedisUserError, admin_password
from tradefleet_operator.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tradefleet-operator", description="Tradefleet operator for one region."
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("TRADEFLEET_OPERATOR_CONFIG"),
        help="operator settings YAML (the Helm chart mounts it)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("TRADEFLEET_REGION"),
        help="the region this operator serves (topology.kubernetes.io/region)",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig to use outside a cluster",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: the whole cluster",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="do not coordinate with other operator replicas (Kopf peering off)",
    )
    parser.add_argument(
        "--liveness", default="http://0.0.0.0:8081/healthz", help="Kopf liveness endpoint URL"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # Kopf reports every successful handler call at INFO; with a child event per pod status
    # change that drowns the operator's own decisions.
    logging.getLogger("kopf.objects").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings = load_settings(path=args.config, region=args.region).with_overrides(
            kubeconfig=args.kubeconfig, namespaces=tuple(args.namespace) or None
        )
        admin_password(settings=settings)
        access = read_access(kubeconfig=settings.kubeconfig)
    except (SettingsError, RedisUserError, AccessError) as exc:
        print(f"tradefleet-operator: {exc}", file=sys.stderr)
        return 2
    memo = kopf.Memo(tradefleet=OperatorState(settings=settings, access=access))
    asyncio.run(
        _run_operator(
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=args.standalone,
            peering_name=settings.peering_name,
            liveness_endpoint=args.liveness,
            memo=memo,
        )
    )
    return 0


async def _run_operator(
    *,
    clusterwide: bool,
    namespaces: list[str],
    standalone: bool,
    peering_name: str,
    liveness_endpoint: str,
    memo: kopf.Memo,
) -> None:
    asyncio.get_running_loop().set_exception_handler(_report_loop_error)
    await kopf.operator(
        clusterwide=clusterwide,
        namespaces=namespaces,
        standalone=standalone,
        peering_name=peering_name,
        liveness_endpoint=liveness_endpoint,
        memo=memo,
    )


def _report_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Asyncio's last-resort error report, minus one known shutdown artefact.

    When ``asyncio.run`` finalises Kopf's watch-stream generators after a SIGTERM, closing one
    that was cancelled mid-stream can raise ``RuntimeError`` from its context manager. The
    stream is gone either way; a traceback at every clean shutdown would only hide real errors.
    """
    if context.get("asyncgen") is not None and isinstance(context.get("exception"), RuntimeError):
        logging.getLogger(__name__).warning(
            "a watch stream did not close cleanly at shutdown: %s", context["exception"]
        )
        return
    loop.default_exception_handler(context)
