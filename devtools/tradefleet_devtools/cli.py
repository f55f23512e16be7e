"""``tradefleet-devcluster``: the local demo cluster behind the README's first command.

Dev/test tooling. ``python -m tradefleet_devtools.cli up`` starts a real control plane on this
machine, installs the CRDs, prints how to use it with kubectl, and keeps everything running until
Ctrl-C. Called by ``scripts/demo.sh``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path

from kubernetes import config

from tradefleet_devtools.controlplane import ControlPlaneError, LocalControlPlane
from tradefleet_devtools.crds import REPO, install_crds

log = logging.getLogger("tradefleet.devcluster")


def _usage(*, kubeconfig: Path, crds: list[str]) -> str:
    return f"""
Tradefleet local cluster is up (dev tooling: a real kube-apiserver, etcd, controller-manager and
scheduler running as local processes). Installed CRDs: {", ".join(crds)}.

  export KUBECONFIG={kubeconfig}
  kubectl get nodes
  kubectl apply -f {REPO / "manifests" / "examples"}
  kubectl get tradingbots
  kubectl explain tradingbot.spec.risk

Press Ctrl-C to stop.
"""


def up(*, workdir: Path) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    plane = LocalControlPlane(workdir=workdir / "control-plane")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        access = plane.start()
        kubeconfig = workdir / "kubeconfig"
        shutil.copy(access.kubeconfig, kubeconfig)
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        crds = install_crds(api_client=api_client)
        print(_usage(kubeconfig=kubeconfig, crds=crds), flush=True)
        stop.wait()
    except ControlPlaneError as exc:
        log.error("%s", exc)
        return 1
    finally:
        plane.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradefleet-devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start the local demo cluster and keep it running")
    up_parser.add_argument("--workdir", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return up(workdir=args.workdir)


if __name__ == "__main__":
    sys.exit(main())
