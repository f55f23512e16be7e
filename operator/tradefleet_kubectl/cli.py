"""The ``kubectl tradefleet`` command line: parse the arguments, run one subcommand, print.

:func:`main` is the ``kubectl-tradefleet`` console script (``[project.scripts]``) and what
``python -m tradefleet_kubectl`` runs; kubectl runs it for ``kubectl tradefleet ...`` once it is on
``PATH``. Each subcommand is a small function of the parsed arguments and a
:class:`~tradefleet_kubectl.cluster.Cluster`; failures the user can act on are one line on stderr
and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from tradefleet_kubectl import actions
from tradefleet_kubectl.ask import Topic, answer
from tradefleet_kubectl.cluster import Cluster, PluginError, Target, api_client
from tradefleet_kubectl.facts import bot_facts
from tradefleet_kubectl.model import Endpoint, ModelError, ask_model
from tradefleet_kubectl.report import write_report
from tradefleet_kubectl.status_view import bot_detail, fleet_table

Command = Callable[[argparse.Namespace, Cluster, TextIO], int]


def _status(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    if args.name:
        out.write(bot_detail(cluster.facts(args.name)) + "\n")
        return 0
    bots = [bot_facts(bot=b) for b in cluster.bots(all_namespaces=args.all_namespaces)]
    out.write(fleet_table(bots) + "\n")
    return 0


def _pause(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    out.write(actions.set_paused(cluster=cluster, name=args.name, paused=True) + "\n")
    return 0


def _resume(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    out.write(actions.set_paused(cluster=cluster, name=args.name, paused=False) + "\n")
    return 0


def _kill(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    out.write(actions.set_kill_switch(cluster=cluster, name=args.name, engaged=True) + "\n")
    return 0


def _unkill(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    out.write(actions.set_kill_switch(cluster=cluster, name=args.name, engaged=False) + "\n")
    return 0


def _reset_breaker(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    out.write(actions.reset_breaker(cluster=cluster, name=args.name) + "\n")
    return 0


def _rollback(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    result = actions.rollback(cluster=cluster, name=args.name, to_revision=args.to_revision)
    out.write(result.message + "\n")
    if args.wait and result.generation is not None:
        out.flush()
        done = actions.wait_rolled_out(
            cluster=cluster, name=args.name, result=result, timeout_s=args.timeout
        )
        out.write(done + "\n")
    return 0


def _logs(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    bot = cluster.bot(args.name)
    pod = cluster.current_pod(args.name, bot=bot)
    if pod is None:
        raise PluginError(f"tradingbot {cluster.namespace}/{args.name} has no runtime pod")
    if args.follow:
        for chunk in cluster.follow_logs(pod, tail=args.tail):
            out.write(chunk.decode(errors="replace"))
            out.flush()
        return 0
    text = cluster.logs(pod, tail=args.tail, previous=args.previous)
    out.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _report(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    bundle = write_report(cluster=cluster, name=args.name, output=args.output)
    out.write(f"wrote {bundle.path} ({len(bundle.files)} files)\n")
    return 0


def _ask(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    facts = cluster.facts(args.name)
    reply = answer(facts=facts, question=args.question)
    url = args.endpoint or os.environ.get("TRADEFLEET_ASK_ENDPOINT")
    if reply.topic is not Topic.UNKNOWN or not url:
        out.write(reply.text + "\n")
        return 0
    if args.api_key_secret:
        secret, _, key = args.api_key_secret.partition("/")
        api_key: str | None = cluster.secret_value(secret, key or "apiKey")
    else:
        api_key = os.environ.get("TRADEFLEET_ASK_API_KEY")
    endpoint = Endpoint(url=url, model=args.model, api_key=api_key)
    try:
        out.write(ask_model(endpoint=endpoint, facts=facts, question=args.question) + "\n")
    except ModelError as exc:
        raise PluginError(f"the model could not be asked: {exc}") from exc
    return 0


def _connection(parser: argparse.ArgumentParser, *, default: str | None) -> None:
    """Where to look; accepted before and after the subcommand (kubectl's habit)."""
    parser.add_argument(
        "--kubeconfig",
        default=default,
        help="path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="the bot's namespace (default: the context's)"
    )


def _named(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    command: Command,
    *,
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text, parents=[common])
    parser.add_argument("name", metavar="NAME", help="the TradingBot")
    parser.set_defaults(command=command)
    return parser


def parser() -> argparse.ArgumentParser:
    """The command line of ``kubectl tradefleet``."""
    top = argparse.ArgumentParser(
        prog="kubectl tradefleet",
        description="Watch, steer and question Tradefleet TradingBots.",
    )
    _connection(top, default=None)
    common = argparse.ArgumentParser(add_help=False)
    _connection(common, default=argparse.SUPPRESS)
    sub = top.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

    status = sub.add_parser(
        "status",
        help="the fleet, or one bot in detail",
        description="Without NAME: every bot with its region, phase, PnL, drawdown, breaker, "
        "revision and the reasons of its conditions that mean trouble. With NAME: that bot in "
        "detail.",
        parents=[common],
    )
    status.add_argument("name", metavar="NAME", nargs="?")
    status.add_argument(
        "-A", "--all-namespaces", action="store_true", help="bots of every namespace"
    )
    status.set_defaults(command=_status)

    for name, text, command in (
        ("pause", "stop opening positions (spec.paused=true)", _pause),
        ("resume", "open positions again (spec.paused=false)", _resume),
        ("kill", "halt and flatten (annotation tradefleet.io/kill-switch=true)", _kill),
        ("unkill", "remove the kill switch", _unkill),
        (
            "reset-breaker",
            "reset an open circuit breaker (a new tradefleet.io/reset-circuit-breaker value)",
            _reset_breaker,
        ),
    ):
        _named(sub, name, text, command, common=common)

    rollback = _named(
        sub, "rollback", "roll back to a kept revision's spec", _rollback, common=common
    )
    rollback.add_argument("--to-revision", type=int, required=True, metavar="N")
    rollback.add_argument(
        "--wait", action="store_true", help="wait until the operator rolled it out"
    )
    rollback.add_argument("--timeout", type=float, default=120.0, help="seconds --wait waits (120)")

    logs = _named(sub, "logs", "the logs of the bot's current runtime pod", _logs, common=common)
    logs.add_argument("-f", "--follow", action="store_true", help="stream the log")
    logs.add_argument("--tail", type=int, default=None, help="only the last N lines")
    logs.add_argument("-p", "--previous", action="store_true", help="the previous container's log")

    report = _named(
        sub, "report", "write a debug bundle (.tar.gz; Secrets never read)", _report, common=common
    )
    report.add_argument("-o", "--output", type=Path, help="the bundle's path")

    ask = _named(
        sub,
        "ask",
        "ask why a bot is halted, not trading, rolled back, or what changed",
        _ask,
        common=common,
    )
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument(
        "--endpoint",
        help="an OpenAI-compatible API (…/v1) for questions without a fixed answer "
        "(default: $TRADEFLEET_ASK_ENDPOINT; none: list the fixed questions)",
    )
    ask.add_argument(
        "--model",
        default=os.environ.get("TRADEFLEET_ASK_MODEL", "gpt-4o-mini"),
        help="the endpoint's model (default: $TRADEFLEET_ASK_MODEL, else gpt-4o-mini)",
    )
    ask.add_argument(
        "--api-key-secret",
        metavar="SECRET[/KEY]",
        help="the Secret of the bot's namespace holding the endpoint's key (data key apiKey "
        "unless given; default: $TRADEFLEET_ASK_API_KEY)",
    )
    return top


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``kubectl tradefleet`` with ``argv`` (default: the process's); the exit code."""
    args = parser().parse_args(argv)
    if args.subcommand == "status" and args.all_namespaces and args.namespace:
        print("error: -A and -n exclude each other", file=sys.stderr)
        return 2
    stdout = out or sys.stdout
    try:
        api, namespace = api_client(
            target=Target(
                kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace
            )
        )
        with api:
            command: Command = args.command
            return command(args, Cluster(api=api, namespace=namespace), stdout)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
