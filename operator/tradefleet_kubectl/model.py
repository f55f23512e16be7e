"""``ask`` beyond its fixed questions: an OpenAI-compatible chat endpoint, given the bot's facts.

Optional, and only for a question :mod:`tradefleet_kubectl.ask` has no deterministic answer for.
Called by :mod:`tradefleet_kubectl.cli` when ``ask --endpoint`` (or ``$TRADEFLEET_ASK_ENDPOINT``)
names one. :func:`fact_lines` numbers what the plugin knows about the bot — phase, conditions,
breaker, kill switch, runtime, revisions, rollback, recent events — and the model is told to answer
from those facts only and to cite them as ``[n]``; the plugin prints the answer followed by the
numbered facts, so every citation can be checked. Plain ``urllib``: no client library.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tradefleet_kubectl.facts import BotFacts, ago

MAX_EVENTS = 20
SYSTEM_PROMPT = (
    "You answer questions about one Tradefleet TradingBot, a trading bot run by a Kubernetes "
    "operator. Use only the numbered facts the user gives. Cite every fact you use as [n]. If the "
    "facts do not answer the question, say so and name what would. Be brief."
)


class ModelError(Exception):
    """The endpoint could not be asked, or answered nothing usable."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    """An OpenAI-compatible API: its base URL (``…/v1``), the model, the bearer key if any."""

    url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0


def fact_lines(facts: BotFacts) -> list[str]:
    """What the plugin knows about the bot, one fact a line, for the model to cite."""
    status = facts.status
    lines = [
        f"TradingBot {facts.namespace}/{facts.name}: phase {facts.phase}, region {facts.region}, "
        f"exchange {facts.spec.get('exchange')} {facts.spec.get('market')} "
        f"{facts.spec.get('symbol')}, mode {facts.spec.get('mode', 'paper')}",
        f"spec.paused is {bool(facts.spec.get('paused'))}; kill switch annotation "
        f"{'set' if facts.kill_switch_set else 'not set'}",
        f"PnL {status.get('pnl')} ({status.get('pnlPct')}%), drawdown {status.get('drawdownPct')}%,"
        f" equity {status.get('equity')}, position {status.get('position') or 'flat'}",
    ]
    lines += [
        f"condition {c.type}={c.status}, reason {c.reason}, since "
        f"{ago(moment=c.since, now=facts.now)} ago: {c.message}"
        for c in facts.conditions
    ]
    if facts.breaker:
        lines.append(f"circuit breaker: {dict(facts.breaker)}")
    if facts.kill_switch_set and facts.control.get("killSwitch"):
        lines.append(f"kill switch state: {dict(facts.control['killSwitch'])}")
    if facts.runtime:
        lines.append(f"runtime report: {dict(facts.runtime)}")
    lines.append(
        f"current revision {status.get('currentRevision')}, last good revision "
        f"{status.get('lastGoodRevision')}"
    )
    lines += [
        f"revision {r.number} (hash {r.hash[:12]}) created "
        f"{ago(moment=r.created_at, now=facts.now)} ago by {r.source or 'unknown'}"
        + (f": {r.reason}" if r.reason else "")
        for r in facts.revisions
    ]
    if facts.rollback:
        lines.append(f"last rollback: {dict(facts.rollback)}")
    lines += [
        f"event {ago(moment=e.at, now=facts.now)} ago, {e.type} {e.reason} on {e.kind}/{e.name}"
        f" (x{e.count}): {e.message}"
        for e in facts.events[-MAX_EVENTS:]
    ]
    return lines


def ask_model(*, endpoint: Endpoint, facts: BotFacts, question: str) -> str:
    """The model's answer to ``question`` from the bot's numbered facts, then those facts."""
    numbered = [f"[{i}] {line}" for i, line in enumerate(fact_lines(facts), start=1)]
    body = {
        "model": endpoint.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": "Facts:\n" + "\n".join(numbered) + f"\n\nQuestion: {question}",
            },
        ],
    }
    headers = {"Content-Type": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    request = urllib.request.Request(
        endpoint.url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout_s) as response:
            answer: Any = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise ModelError(f"{endpoint.url}: {exc}") from exc
    try:
        content = str(answer["choices"][0]["message"]["content"]).strip()
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"{endpoint.url}: no answer in the response") from exc
    return "\n".join([content, "", f"(answered by {endpoint.model} from these facts:)", *numbered])
