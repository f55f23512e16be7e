"""``tradefleet-devcluster``: the local demo behind the README's first command.

Dev/test tooling. ``python -m tradefleet_devtools.cli up`` starts the local stack
(:mod:`tradefleet_devtools.stack`: control plane, a real kubelet with containerd for the first region
where this machine can run one — ``TRADEFLEET_NODE``, see :mod:`tradefleet_devtools.realnode` — and
the dev node agent for the others, Redis, the local exchange, one operator per region), applies the demo bots in paper mode, prints how to watch and
break them, and keeps everything running until Ctrl-C. Called by ``scripts/demo.sh``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tradefleet_devtools.controlplane import ControlPlaneError
from tradefleet_devtools.crds import REPO
from tradefleet_devtools.realnode import clear_leftovers, node_kind
from tradefleet_devtools.redis_server import RedisServerError
from tradefleet_devtools.stack import DEMO_MARKET, LocalStack, StackError

log = logging.getLogger("tradefleet.devcluster")
DEMO_MANIFESTS = REPO / "manifests" / "demo"


def _guide(*, stack: LocalStack, kubeconfig: Path) -> str:
    assert stack.exchange is not None and stack.agent is not None
    exchange = stack.exchange.url
    nodes = stack.node_note or "the dev node agent stands in for kubelets in three regions"
    return f"""
Tradefleet local demo is up (dev tooling: a real kube-apiserver, etcd, controller-manager and
scheduler; Redis; a local exchange speaking Binance USDⓈ-M; one operator per region:
{", ".join(stack.operators)}).
Nodes: {nodes}.

  export KUBECONFIG={kubeconfig}
  kubectl get nodes -o wide -L topology.kubernetes.io/region
  kubectl logs deploy/btc-tokyo                # and: kubectl exec deploy/btc-tokyo -- id
  kubectl get tradingbots -o wide -w          # PnL, regime, signals move as the bots trade
  kubectl get signalsources
  kubectl describe tradingbot btc-tokyo        # conditions and events

Break things and watch the operator heal them:

  # Crash a bot: the pod restarts, the restart is counted, no order is placed twice.
  kill -9 $(pgrep -f 'tradefleet_runtime' | head -1)

  # Push a bad config (a symbol the exchange does not list): the new revision never becomes
  # ready and is rolled back to the last good one (RolledBack=True, REVISION goes back).
  kubectl patch tb eth-tokyo --type merge -p '{{"spec":{{"symbol":"DOGE/USDT:USDT"}}}}'

  # Force a drawdown: crash the price on the exchange; the breaker opens (CIRCUIT=Open, phase Halted).
  curl -s -X POST {exchange}/_admin/price -d '{{"symbol":"BTC/USDT:USDT","price":15000}}'
  kubectl annotate tb btc-tokyo tradefleet.io/reset-circuit-breaker="$(date +%s)" --overwrite

  # Pause (no new positions) and the kill switch (flatten and halt).
  kubectl patch tb btc-tokyo --type merge -p '{{"spec":{{"paused":true}}}}'
  kubectl annotate tb btc-tokyo tradefleet.io/kill-switch=true

Logs: operators {stack.workdir}/operator-*/operator.log, bot pods `kubectl logs` on a real node,
{stack.workdir}/node-agent/logs/ on the dev node agent.
Press Ctrl-C to stop everything.
"""


def up(*, workdir: Path) -> int:
    # Checked before anything starts: the demo applies its bots with kubectl.
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        log.error(
            "kubectl is not on PATH: `source scripts/bootstrap.sh` builds it into "
            "~/.cache/tradefleet/node/bin and puts that first on PATH (scripts/demo.sh does)"
        )
        return 1
    # A demo killed earlier (SIGKILL, a closed terminal) left its real node running, its kubelet's
    # root mounted in the workdir: stop and unmount that first.
    clear_leftovers(workdir=workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    stack = LocalStack(workdir=workdir, market=DEMO_MARKET, node_kind=node_kind())
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stack.start()
        assert stack.cluster is not None
        kubeconfig = workdir / "kubeconfig"
        shutil.copy(stack.cluster.kubeconfig, kubeconfig)
        applied = subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", "apply", "-f", str(DEMO_MANIFESTS)],
            capture_output=True,
            text=True,
            check=False,
        )
        print(applied.stdout + applied.stderr, flush=True)
        print(_guide(stack=stack, kubeconfig=kubeconfig), flush=True)
        stop.wait()
    except (ControlPlaneError, RedisServerError, StackError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradefleet-devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start the local demo and keep it running")
    up_parser.add_argument("--workdir", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return up(workdir=args.workdir)


if __name__ == "__main__":
    sys.exit(main())
