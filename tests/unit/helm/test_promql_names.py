"""The PromQL metric-name extraction the alert and dashboard checks rely on."""

from __future__ import annotations

import pytest
from support.promql import documented_metrics, metric_names

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'sum by (namespace, bot) (rate(tradefleet_bot_orders_total{outcome=~"a|b"}[15m]))',
            {"tradefleet_bot_orders_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[$__rate_interval])))",
            {"x_seconds_bucket"},
        ),
        (
            'label_values(tradefleet_bot_equity{namespace=~"$namespace"}, bot)',
            {"tradefleet_bot_equity"},
        ),
        ('time() - heartbeat{bot="a"} > 120', {"heartbeat"}),
        (
            "left and on (namespace, pod) right unless ignoring(pod) other",
            {"left", "right", "other"},
        ),
        ("1e3 * rate(foo[5m:1m] offset 1h)", {"foo"}),
        ("absent(up)", {"up"}),
    ],
)
def test_metric_names_are_what_the_expression_selects(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names


def test_documented_metrics_include_histogram_series() -> None:
    documented = documented_metrics()
    assert "tradefleet_bot_equity" in documented
    assert "tradefleet_operator_reconcile_duration_seconds_bucket" in documented
    assert "tradefleet_operator_reconcile_duration_seconds" not in documented
    assert "up" not in documented
