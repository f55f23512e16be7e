"""`kubectl tradefleet ask --endpoint`: a question without a fixed answer goes to an
OpenAI-compatible endpoint (here a local stand-in) with the bot's facts from the real apiserver and
the key from a Secret; the fixed questions never reach it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client
from support.plugin_bots import Plugin, cond, create_bot

pytestmark = pytest.mark.integration


class ChatStandIn:
    """Answers POST /v1/chat/completions with a fixed reply and keeps what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                reply = {"choices": [{"message": {"role": "assistant", "content": "Paused [2]."}}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def chat() -> Iterator[ChatStandIn]:
    stand_in = ChatStandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def test_a_free_question_is_answered_from_the_bots_facts_with_the_key_from_a_secret(
    plugin: Plugin,
    namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    chat: ChatStandIn,
) -> None:
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="llm"), string_data={"token": "sk-test-123"}
        ),
    )
    create_bot(
        custom,
        namespace,
        "quiet",
        paused=True,
        status={
            "phase": "Paused",
            "conditions": [cond("Paused", "True", "PausedBySpec", "spec.paused is true")],
        },
    )

    run = plugin(
        "ask",
        "quiet",
        "should I be worried about it?",
        "-n",
        namespace,
        "--endpoint",
        chat.url,
        "--model",
        "local-model",
        "--api-key-secret",
        "llm/token",
    )
    assert run.code == 0, run.out
    (headers, body), *_ = chat.requests
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert body["model"] == "local-model"
    prompt = body["messages"][-1]["content"]
    assert "Question: should I be worried about it?" in prompt
    assert "[2] spec.paused is True" in prompt
    assert "condition Paused=True, reason PausedBySpec" in prompt
    assert run.out.startswith("Paused [2].")
    assert "[2] spec.paused is True" in run.out  # the cited fact, printed for the user

    fixed = plugin(
        "ask", "quiet", "why is it not trading?", "-n", namespace, "--endpoint", chat.url
    )
    assert "spec.paused is true" in fixed.out
    assert len(chat.requests) == 1  # a fixed question is answered without the model

    chat.server.shutdown()
    chat.server.server_close()
    down = plugin("ask", "quiet", "anything else?", "-n", namespace, "--endpoint", chat.url)
    assert down.code == 1
