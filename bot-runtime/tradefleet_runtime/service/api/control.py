"""``POST /control/<command>`` and the ``/ws/stream`` WebSocket of live events (both with the
bearer token, :mod:`.auth`).

Built by :func:`~tradefleet_runtime.service.api.build_bot_app`; the operator sends the commands
(see :mod:`tradefleet_runtime.service.control` for what each does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from tradefleet_runtime.service.api.auth import bearer_guard, refusal
from tradefleet_runtime.service.api.replies import Replies, scrub
from tradefleet_runtime.service.api.view import ControlView
from tradefleet_runtime.service.control import COMMANDS
from tradefleet_runtime.service.events import TooManySubscribersError

WS_HEARTBEAT_S = 5.0


def control_router(*, view: ControlView) -> APIRouter:
    router = APIRouter()
    guard = bearer_guard(token=lambda: view.control_token)
    replies = Replies(view=view)

    @router.post("/control/{command}", dependencies=[Depends(guard)])
    async def control(command: str) -> JSONResponse:
        if command not in COMMANDS:
            return replies.json(
                {"detail": f"unknown command {command!r}; one of {', '.join(COMMANDS)}"},
                status_code=404,
            )
        return replies.json(await view.command(command))

    @router.websocket("/ws/stream")
    async def stream(websocket: WebSocket) -> None:
        refused = refusal(
            authorization=websocket.headers.get("authorization", ""), expected=view.control_token
        )
        if refused is not None:
            # Closing before accepting answers the handshake with HTTP 403.
            await websocket.close(code=1008, reason=refused.detail)
            return
        await websocket.accept()
        try:
            subscription = view.subscribe()
        except TooManySubscribersError as error:
            # 1013: try again later (RFC 6455 registry).
            await websocket.close(code=1013, reason=str(error))
            return
        with subscription as queue:
            # Reading alongside sending answers a client's close at once (unread, the client
            # waited out its close timeout) and ends the stream as soon as the server stops.
            sender = asyncio.create_task(_send_events(view, websocket=websocket, queue=queue))
            closer = asyncio.create_task(_wait_for_disconnect(websocket=websocket))
            try:
                done, _ = await asyncio.wait({sender, closer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sender, closer):
                    task.cancel()
                await asyncio.gather(sender, closer, return_exceptions=True)
            for task in done:
                with contextlib.suppress(WebSocketDisconnect):
                    task.result()

    return router


async def _send_events(
    view: ControlView, *, websocket: WebSocket, queue: asyncio.Queue[dict[str, object]]
) -> None:
    event: dict[str, object] = {"type": "hello", "at": time.time(), "data": view.status()}
    while True:
        await websocket.send_text(json.dumps(scrub(event, secrets=view.secrets), default=str))
        try:
            event = await asyncio.wait_for(queue.get(), timeout=WS_HEARTBEAT_S)
        except TimeoutError:
            event = {
                "type": "heartbeat",
                "at": time.time(),
                "data": {"heartbeat": view.heartbeat, "phase": view.phase},
            }


async def _wait_for_disconnect(*, websocket: WebSocket) -> None:
    # Clients have nothing to say to the stream; their messages are read and dropped so
    # they never fill the server's receive queue.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
