"""The operator's shutdown stays quiet about Kopf's watch streams and loud about anything else."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tradefleet_operator.cli import _report_loop_error

pytestmark = pytest.mark.unit


async def _watch_stream() -> object:
    yield 1  # pragma: no cover - never iterated


def test_a_watch_stream_closing_uncleanly_at_shutdown_is_one_warning_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING):
            _report_loop_error(
                loop,
                {
                    "message": "an error occurred during shutdown asyncgen",
                    "exception": RuntimeError("generator didn't stop after athrow()"),
                    "asyncgen": _watch_stream(),
                },
            )
    finally:
        loop.close()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "did not close cleanly" in caplog.text
    assert "Traceback" not in caplog.text


def test_any_other_loop_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        try:
            raise ValueError("a handler bug")
        except ValueError as exc:
            error = exc
        with caplog.at_level(logging.ERROR):
            _report_loop_error(
                loop, {"message": "Task exception was never retrieved", "exception": error}
            )
    finally:
        loop.close()
    assert caplog.records[-1].levelno == logging.ERROR
    assert caplog.records[-1].exc_info is not None
    assert "a handler bug" in caplog.text
