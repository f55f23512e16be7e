"""Signed requests: how long one can still execute, and the last check before one leaves.

``submission_window_s`` says how long after it left an order request can still execute
(``RECEIVE_WINDOWS``: the exchanges that refuse a late one): ``CcxtVenue`` reports it, and the
executor and the reconciliation at start-up wait it out. ``signed_request_lifetime_s`` is the
part the exchange itself enforces; the bot service sizes its lease's send margin by it.

``CcxtVenue`` wraps its ccxt client's ``sign`` with :func:`gate_signing` and runs each order
and cancel under :func:`sending_under`. Between the runtime's own checks (``OrderSender``, the
executor) and the request leaving, ccxt may wait in its rate limiter, and the process may be
stopped (a hung node, SIGSTOP) for any length of time. The gate is asked after the request is
signed, with no await in between: a request signed while the runtime still held its lease
carries that moment's timestamp, and an exchange with a receive window refuses it once the
window has passed (the lease keeper keeps that window inside the lease's remaining life). This
holds while the signing clock is no further ahead of the exchange's than the exchange's own
forward skew (``ReceiveWindow.forward_skew_s``), give or take a step of
``CLOCK_SKEW_MARGIN_S``. On an exchange without a receive window nothing bounds a request after
this check: connecting (up to the client timeout) and a stall of the process then can outlast
the lease's send margin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tradefleet_runtime.execution.errors import SendRefused

if TYPE_CHECKING:
    import ccxt.async_support as ccxt

# Added to every submission window: the local clock may be stepped between signing and sending,
# and a request stamped ahead of the exchange's clock stays acceptable for that much longer.
CLOCK_SKEW_MARGIN_S = 0.25
# Without a receive window nothing on the exchange's side refuses a late request: one the client
# gave up on after its timeout may still sit between the gateway and the matching engine. Their
# normal order latency is milliseconds; 5 s covers congested markets. The gateways' timestamp
# checks (OKX and Bitget 30 s, Gate 60 s, KuCoin 5 s) bound when a request may enter, not when
# it executes, so they give no tighter bound.
EXCHANGE_PROCESSING_MARGIN_S = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiveWindow:
    """An exchange's server-side deadline on signed requests (``recvWindow``).

    The exchange refuses a request whose timestamp is more than ``recvWindow`` ms behind its
    clock, or ``forward_skew_s`` or more ahead of it. A request stamped by a clock ahead of the
    exchange's by up to ``forward_skew_s`` is therefore accepted until ``recvWindow +
    forward_skew_s`` after it was sent, by the sender's clock, and never later.
    """

    forward_skew_s: float


_BINANCE_RECEIVE_WINDOW = ReceiveWindow(forward_skew_s=1.0)
# ccxt ids whose exchange enforces a receive window and whose ccxt class signs every private
# request with options["recvWindow"] (see each class's sign()). Every other exchange gets no
# recvWindow option and a window bounded by the client timeout (EXCHANGE_PROCESSING_MARGIN_S).
RECEIVE_WINDOWS: Mapping[str, ReceiveWindow] = MappingProxyType(
    {
        # Binance "timing security": processed if timestamp < serverTime + 1000 and
        # serverTime - timestamp <= recvWindow; ccxt binance.sign() adds options["recvWindow"],
        # and binanceusdm, binancecoinm and binanceus inherit it.
        "binance": _BINANCE_RECEIVE_WINDOW,
        "binanceusdm": _BINANCE_RECEIVE_WINDOW,
        "binancecoinm": _BINANCE_RECEIVE_WINDOW,
        "binanceus": _BINANCE_RECEIVE_WINDOW,
        # Bybit v5: server_time - recv_window <= timestamp < server_time + 1000; ccxt
        # bybit.sign() sends options["recvWindow"] as X-BAPI-RECV-WINDOW.
        "bybit": ReceiveWindow(forward_skew_s=1.0),
    }
)


def signed_request_lifetime_s(*, exchange_id: str, recv_window_ms: int) -> float | None:
    """Seconds after it is signed by which a request has executed on ``exchange_id`` or never
    will, where the exchange enforces a receive window (see ``RECEIVE_WINDOWS``); None where
    nothing on the exchange's side bounds it."""
    receive_window = RECEIVE_WINDOWS.get(exchange_id)
    if receive_window is None:
        return None
    return recv_window_ms / 1000 + receive_window.forward_skew_s + CLOCK_SKEW_MARGIN_S


def submission_window_s(*, exchange_id: str, recv_window_ms: int, timeout_s: float) -> float:
    """Seconds after an order request is sent by which it has executed on ``exchange_id`` or
    never will: its signed lifetime where the exchange has a receive window, else the client
    timeout plus ``EXCHANGE_PROCESSING_MARGIN_S``."""
    lifetime = signed_request_lifetime_s(exchange_id=exchange_id, recv_window_ms=recv_window_ms)
    if lifetime is None:
        return timeout_s + EXCHANGE_PROCESSING_MARGIN_S + CLOCK_SKEW_MARGIN_S
    return lifetime


# Why a request must not leave now (None: it may leave).
SendGate = Callable[[], str | None]
# A context variable, not an argument: ccxt calls ``sign`` deep inside its own methods, in the
# task that awaits them, and passes nothing of ours through.
_GATE: ContextVar[tuple[SendGate, str] | None] = ContextVar("tradefleet_send_gate", default=None)


@contextmanager
def sending_under(gate: SendGate | None, *, what: str) -> Iterator[None]:
    """Requests signed in this block leave only while ``gate`` allows (``what`` names them)."""
    token = _GATE.set(None if gate is None else (gate, what))
    try:
        yield
    finally:
        _GATE.reset(token)


def leave_or_refuse(gate: SendGate | None, *, what: str) -> None:
    """Raise :class:`SendRefused` if ``gate`` refuses the request ``what`` names (as far as
    this call knows, nothing of it was sent before: the executor says when it was)."""
    refusal = None if gate is None else gate()
    if refusal is not None:
        raise SendRefused(what=what, reason=refusal, sent_before=False)


def gate_signing(exchange: ccxt.Exchange) -> None:
    """Make ``exchange`` ask the current gate after signing each request."""
    sign = exchange.sign

    def gated_sign(*args: Any, **kwargs: Any) -> Any:
        signed = sign(*args, **kwargs)
        current = _GATE.get()
        if current is not None:
            gate, what = current
            leave_or_refuse(gate, what=what)
        return signed

    exchange.sign = gated_sign
