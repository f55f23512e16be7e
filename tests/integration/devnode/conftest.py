"""Fixtures for the dev node agent's integration tests: a real agent subprocess, real control plane.

``dev_node_agent`` serves two regions (Tokyo and Singapore) for a whole test module, with small
crash-loop backoffs (1 s base, 60 s cap) so restart tests stay quick; it deletes its nodes at the
end. The factory ``start_dev_node_agent`` lives in the devnode package, for a shared fixture.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from devnode_support import SINGAPORE, TOKYO
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.devnode import DevNodeAgentHandle, start_dev_node_agent


@pytest.fixture(scope="module")
def dev_node_agent(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevNodeAgentHandle]:
    handle = start_dev_node_agent(
        cluster=cluster,
        state_dir=tmp_path_factory.mktemp("devnode"),
        nodes=[TOKYO, SINGAPORE],
        backoff_base_s=1.0,
        backoff_max_s=60.0,
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def mount_root(namespace: str) -> Iterator[Path]:
    """Where this test's pods mount volumes: ``/run/devnode-tests/<namespace>`` (tmpfs).

    The agent creates mount points on the host, as a kubelet does under /var/lib/kubelet; this
    removes them after the test.
    """
    root = Path("/run/devnode-tests") / namespace
    yield root
    shutil.rmtree(root, ignore_errors=True)
