"""Build the krew archive of `kubectl tradefleet` and check the manifest's sha256 against it.

`python scripts/krew_archive.py [OUT]` writes the archive (default dist/kubectl-tradefleet.tar.gz)
and prints its sha256; `--check` fails when plugins/krew/tradefleet.yaml names another sha256.
The archive holds plugins/krew/kubectl-tradefleet, the shim that runs the package's plugin, and is
byte-for-byte reproducible (fixed names, modes, owners and times), so the manifest's sha256 can be
checked in CI. Called by hand at release time and by tests/unit/kubectl/test_krew_manifest.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHIM = REPO / "plugins" / "krew" / "kubectl-tradefleet"
MANIFEST = REPO / "plugins" / "krew" / "tradefleet.yaml"


def archive_bytes() -> bytes:
    """The archive, the same bytes on every machine."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = SHIM.read_bytes()
        info = tarfile.TarInfo("kubectl-tradefleet")
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def manifest_sha256() -> set[str]:
    manifest = yaml.safe_load(MANIFEST.read_text())
    return {p["sha256"] for p in manifest["spec"]["platforms"]}


def main(argv: list[str]) -> int:
    data = archive_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if "--check" in argv:
        if manifest_sha256() != {digest}:
            print(f"{MANIFEST}: sha256 is not {digest}", file=sys.stderr)
            return 1
        print(f"{MANIFEST}: sha256 {digest} matches")
        return 0
    out = Path(argv[0]) if argv else REPO / "dist" / "kubectl-tradefleet.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{out} sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
