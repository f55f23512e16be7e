"""A regime model fitted once and run elsewhere: the market-data workload fits a symbol's model
and publishes it; each bot on the symbol runs it, and names the same regimes as the fit's own
detector on every bar."""

from __future__ import annotations

import json

import pytest
from tradefleet_runtime.marketdata.feeds import MarketDataError
from tradefleet_runtime.marketdata.shared import (
    PublishedRegime,
    regime_document,
    regime_from_document,
)
from tradefleet_runtime.marketdata.synthetic import generate_market
from tradefleet_runtime.signals.regime import ModelState, RegimeDetector
from tradefleet_runtime.signals.regime_config import RegimeConfig
from tradefleet_runtime.signals.regime_model import RegimeModel

pytestmark = pytest.mark.unit


def test_a_detector_running_a_published_model_names_the_fitters_regimes() -> None:
    market = generate_market(seed=2024, n_bars=4_000)
    close, stamps = market.close.tolist(), market.timestamp_ms.tolist()
    fitter = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
    runner = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
    published: PublishedRegime | None = None
    same = compared = 0
    for price, stamp in zip(close, stamps, strict=True):
        # A refused refit keeps the previous model, published already.
        if fitter.refit_due and fitter.refit().accepted:
            assert fitter.model is not None and fitter.status.fitted_at_ms is not None
            # Through the document the publisher writes to Redis, as a bot reads it.
            text = regime_document(
                PublishedRegime(fitted_at_ms=fitter.status.fitted_at_ms, model=fitter.model)
            )
            published = regime_from_document(text, where="test")
            runner.adopt(
                model=published.model, fitted_at_ms=published.fitted_at_ms, fitted_by="the fitter"
            )
        # The runner never fits: its refit is the fitter's.
        expected = fitter.update(close=price, timestamp_ms=stamp)
        got = runner.update(close=price, timestamp_ms=stamp)
        if published is not None:
            compared += 1
            same += got.regime == expected.regime
            assert got.probabilities == pytest.approx(expected.probabilities, abs=1e-9)
    assert published is not None and compared > 2_000
    assert same == compared
    status = runner.status
    assert status.state is ModelState.READY and status.fitted_at_ms == published.fitted_at_ms
    assert status.reason.startswith("fitted by the fitter on ")


def test_a_model_survives_its_document_exactly() -> None:
    market = generate_market(seed=105, n_bars=3_000)
    detector = RegimeDetector(symbol="ETH/USDT", config=RegimeConfig())
    for price, stamp in zip(market.close.tolist(), market.timestamp_ms.tolist(), strict=True):
        detector.update(close=price, timestamp_ms=stamp)
    assert detector.refit().accepted and detector.model is not None
    again = RegimeModel.from_dict(json.loads(json.dumps(detector.model.to_dict())))
    assert again.to_dict() == detector.model.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scales": [1.0, 2.0]}, "scales: expected 6 numbers"),
        ({"startProbability": [0.5] * 6}, "does not sum to 1"),
        ({"labels": ["squeeze", "squeeze", "squeeze"]}, "labels: expected"),
        ({"means": [float("nan")] * 6}, "not every number is finite"),
    ],
)
def test_a_malformed_published_model_is_refused_naming_what_is_wrong(
    change: dict[str, object], message: str
) -> None:
    market = generate_market(seed=105, n_bars=3_000)
    detector = RegimeDetector(symbol="ETH/USDT", config=RegimeConfig())
    for price, stamp in zip(market.close.tolist(), market.timestamp_ms.tolist(), strict=True):
        detector.update(close=price, timestamp_ms=stamp)
    assert detector.refit().accepted and detector.model is not None
    raw = {"fittedAtMs": 1, "model": {**detector.model.to_dict(), **change}}
    with pytest.raises(MarketDataError, match=message):
        regime_from_document(json.dumps(raw), where="P:regime:ETH/USDT:1m")
    with pytest.raises(MarketDataError, match="lacks 'model'"):
        regime_from_document(json.dumps({"fittedAtMs": 1}), where="P:regime:ETH/USDT:1m")
