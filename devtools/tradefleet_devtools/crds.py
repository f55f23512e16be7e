"""Install (or update) the CustomResourceDefinitions from ``crds/`` and wait until they are served.

Dev/test tooling, used by the test fixtures and the local demo. Real clusters get the CRDs from the
Helm chart (``crds.create``) or ``kubectl apply -f crds/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"


# Over the complexity limit on purpose: create-or-replace then wait, each with its own Kubernetes
# error cases.
def install_crds(  # noqa: C901
    *, api_client: client.ApiClient, crd_dir: Path = CRD_DIR, timeout_s: float = 30.0
) -> list[str]:
    """Create or replace every CRD in ``crd_dir``; return their names once all are Established."""
    ext = client.ApiextensionsV1Api(api_client)
    names: list[str] = []
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            names.append(name)
            try:
                ext.create_custom_resource_definition(doc)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                current = ext.read_custom_resource_definition(name)
                assert current.metadata is not None
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                ext.replace_custom_resource_definition(name, doc)
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            crd = ext.read_custom_resource_definition(name)
            conditions = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"CRDs not established after {timeout_s}s: {', '.join(sorted(pending))}")
    return names
