"""The values page generator reads helm-docs style comments the way the chart's values use them."""

from __future__ import annotations

import textwrap

import pytest
from values_doc import ValueDoc, documented_values, render_page, undocumented_leaves

pytestmark = pytest.mark.unit

SAMPLE = textwrap.dedent(
    """\
    # A file comment, not a value's.

    # -- (string) The region;
    # required.
    region: ""
    operator:
      # -- Pods.
      replicas: 1
      image:
        # -- Repository.
        repository: ghcr.io/x/op
      extra: true
    """
)


def test_comment_blocks_document_the_key_below_them() -> None:
    assert documented_values(SAMPLE) == [
        ValueDoc(key="region", type="string", default='""', description="The region; required."),
        ValueDoc(key="operator.replicas", type="int", default="1", description="Pods."),
        ValueDoc(
            key="operator.image.repository",
            type="string",
            default='"ghcr.io/x/op"',
            description="Repository.",
        ),
    ]


def test_values_without_a_comment_are_reported() -> None:
    assert undocumented_leaves(SAMPLE) == ["operator.extra"]


def test_the_page_is_a_table_row_per_value() -> None:
    page = render_page(SAMPLE)
    assert "| `operator.replicas` | int | `1` | Pods. |" in page
    assert page.count("\n| `") == 3
