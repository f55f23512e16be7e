"""Scoring regime labels against known ones: accuracy, coverage and a confusion matrix.

Used by the regime tests, ``tests/benchmarks/bench_signals.py`` and research notebooks
that run a :class:`~tradefleet_runtime.signals.regime.RegimeDetector` over a labelled
synthetic market (:mod:`tradefleet_runtime.marketdata.synthetic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tradefleet_runtime.signals.errors import SignalDataError


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeEvaluation:
    """``matrix[i][j]`` counts bars whose true label is labels[i] and predicted labels[j].

    Bars predicted ``unknown`` are left out of accuracy and the matrix; ``coverage`` is
    the share of bars that got a regime at all.
    """

    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    accuracy: float
    coverage: float

    def render(self) -> str:
        width = max(len(label) for label in self.labels) + 2
        header = "true \\ predicted".ljust(width) + "".join(
            label.rjust(width) for label in self.labels
        )
        rows = [
            label.ljust(width) + "".join(str(count).rjust(width) for count in row)
            for label, row in zip(self.labels, self.matrix, strict=True)
        ]
        summary = f"accuracy {self.accuracy:.1%} over {self.coverage:.1%} of bars with a regime"
        return "\n".join([header, *rows, summary])


def evaluate_regimes(
    *, predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str]
) -> RegimeEvaluation:
    if len(predicted) != len(truth):
        raise SignalDataError("predicted and true labels must have the same length")
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    scored = correct = 0
    for guess, actual in zip(predicted, truth, strict=True):
        if guess not in index:
            continue
        if actual not in index:
            raise SignalDataError(f"true label {actual!r} is not one of {list(labels)}")
        matrix[index[actual]][index[guess]] += 1
        scored += 1
        correct += guess == actual
    return RegimeEvaluation(
        labels=tuple(labels),
        matrix=tuple(tuple(row) for row in matrix),
        accuracy=correct / scored if scored else 0.0,
        coverage=scored / len(predicted) if predicted else 0.0,
    )
