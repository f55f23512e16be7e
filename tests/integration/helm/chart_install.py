"""Install, render and uninstall the Tradefleet chart with Helm's own library (helm-sdkpy).

Helm-sdkpy offers no client-only ``helm template``: rendering is a real install into a cluster,
whose result carries the manifest, followed by an uninstall. Used by the Helm integration tests
(``tests/integration/helm/``) and, as a program, by ``scripts/render-manifests.sh``::

    python tests/integration/helm/chart_install.py manifests --out manifests/install

which starts a throwaway local control plane, renders the chart for the four default regions and
writes the raw install manifests, and by ``scripts/kind-e2e.sh`` (``install --kubeconfig K
--release R --namespace N --values FILE``). Not a test module.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_sdkpy
import yaml
from tradefleet_devtools.controlplane import LocalControlPlane

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "tradefleet"
DEFAULT_REGIONS = ("ap-northeast-1", "ap-southeast-1", "eu-central-1", "us-east-1")
INSTALL_NAMESPACE = "tradefleet-system"
CRDS_FILE = "crds.yaml"
# Helm starts every rendered document with `---` and a `# Source:` line.
_DOCUMENT_START = re.compile(r"^---\n", re.MULTILINE)
_TOP_LEVEL_KIND = re.compile(r"^kind: (\S+)$", re.MULTILINE)


class ChartError(RuntimeError):
    """Helm refused the values or failed to install or uninstall; the message is Helm's."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Release:
    """What one install rendered: the release's manifest, its hooks' manifests, both parsed."""

    name: str
    namespace: str
    manifest: str
    hooks: tuple[str, ...]
    documents: tuple[dict[str, Any], ...]

    def find(self, *, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            doc
            for doc in self.documents
            if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
        ]


def _parse(texts: Sequence[str]) -> tuple[dict[str, Any], ...]:
    # libyaml: the CRDs make the manifests long.
    return tuple(
        doc for text in texts for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc
    )


def region_release(region: str) -> str:
    """The release name the install manifests use for a region."""
    return f"tradefleet-{region}"


def _configuration(*, kubeconfig: Path, namespace: str) -> helm_sdkpy.Configuration:
    return helm_sdkpy.Configuration(namespace=namespace, kubeconfig=str(kubeconfig))


def install(
    *,
    kubeconfig: Path,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    wait: bool = False,
    timeout_s: int = 120,
) -> Release:
    """``helm install`` of the chart in this repository; the namespace is created if needed.

    Objects that exist without Helm's ownership (CRDs installed by the test fixtures, or kept
    by an earlier release) are adopted rather than refused.
    """
    action = helm_sdkpy.Install(_configuration(kubeconfig=kubeconfig, namespace=namespace))
    try:
        answer = asyncio.run(
            action.run(
                release,
                str(CHART),
                values=dict(values),
                create_namespace=True,
                wait=wait,
                timeout=timeout_s,
                take_ownership=True,
            )
        )
    except helm_sdkpy.HelmError as exc:
        raise ChartError(str(exc)) from exc
    manifest = str(answer.get("manifest") or "")
    hooks = tuple(str(hook["manifest"]) for hook in answer.get("hooks") or [])
    return Release(
        name=release,
        namespace=namespace,
        manifest=manifest,
        hooks=hooks,
        documents=_parse([manifest, *hooks]),
    )


def uninstall(*, kubeconfig: Path, release: str, namespace: str) -> None:
    action = helm_sdkpy.Uninstall(_configuration(kubeconfig=kubeconfig, namespace=namespace))
    try:
        asyncio.run(action.run(release, wait=False))
    except helm_sdkpy.HelmError as exc:
        raise ChartError(str(exc)) from exc


def render(*, kubeconfig: Path, release: str, namespace: str, values: Mapping[str, Any]) -> Release:
    """The chart rendered with ``values``: installed, read, uninstalled (CRDs are kept)."""
    rendered = install(kubeconfig=kubeconfig, release=release, namespace=namespace, values=values)
    uninstall(kubeconfig=kubeconfig, release=release, namespace=namespace)
    return rendered


def _split(text: str) -> list[str]:
    return [chunk.strip("\n") for chunk in _DOCUMENT_START.split(text) if chunk.strip()]


def _kind(chunk: str) -> str:
    found = _TOP_LEVEL_KIND.search(chunk)
    return found.group(1) if found else ""


def render_regions(
    *, kubeconfig: Path, regions: Sequence[str] = DEFAULT_REGIONS
) -> dict[str, Release]:
    """The chart rendered with its defaults for each region, as the install manifests are: with
    Redis's password in a Secret the user creates (a rendered one would hold a password in the
    repository, a new one at every render)."""
    return {
        region: render(
            kubeconfig=kubeconfig,
            release=region_release(region),
            namespace=INSTALL_NAMESPACE,
            values={
                "region": region,
                "redis": {"auth": {"existingSecret": redis_auth_secret(region)}},
            },
        )
        for region in regions
    }


def redis_auth_secret(region: str) -> str:
    """The Secret with Redis's password that the install manifests of ``region`` expect."""
    return f"{region_release(region)}-redis-auth"


def manifest_files(*, releases: Mapping[str, Release]) -> dict[str, str]:
    """File name → content of the raw install manifests: the CRDs, then one file per region."""
    header = (
        "# Rendered from helm/tradefleet by scripts/render-manifests.sh; do not edit.\n"
        "# Apply crds.yaml first; see manifests/install/README.md.\n"
    )
    files: dict[str, str] = {}
    crds: list[str] = []
    for region, release in releases.items():
        chunks = _split(release.manifest) + [c for hook in release.hooks for c in _split(hook)]
        crds = [chunk for chunk in chunks if _kind(chunk) == "CustomResourceDefinition"]
        rest = [chunk for chunk in chunks if _kind(chunk) != "CustomResourceDefinition"]
        files[f"{region_release(region)}.yaml"] = header + "".join(f"---\n{c}\n" for c in rest)
    # Every region renders the same CRDs; they go to one file.
    files[CRDS_FILE] = header + "".join(f"---\n{c}\n" for c in crds)
    return files


def _write_manifests(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="tradefleet-render-") as workdir:
        plane = LocalControlPlane(workdir=Path(workdir))
        try:
            access = plane.start()
            files = manifest_files(releases=render_regions(kubeconfig=access.kubeconfig))
        finally:
            plane.stop()
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (out / name).write_text(text)
        print(f"wrote {out / name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render or install the Tradefleet chart.")
    commands = parser.add_subparsers(dest="command", required=True)
    manifests = commands.add_parser("manifests", help="render the raw install manifests")
    manifests.add_argument("--out", type=Path, required=True, help="directory to write them to")
    setup = commands.add_parser("install", help="install a release and wait until it is ready")
    setup.add_argument("--kubeconfig", type=Path, required=True)
    setup.add_argument("--release", required=True)
    setup.add_argument("--namespace", required=True)
    setup.add_argument("--values", type=Path, required=True, help="values YAML file")
    args = parser.parse_args(argv)
    try:
        if args.command == "manifests":
            _write_manifests(args.out)
        else:
            release = install(
                kubeconfig=args.kubeconfig,
                release=args.release,
                namespace=args.namespace,
                values=yaml.safe_load(args.values.read_text()) or {},
                wait=True,
                timeout_s=600,
            )
            print(f"installed {release.name} in {release.namespace}")
    except ChartError as exc:
        print(f"chart_install: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
