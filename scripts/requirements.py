"""Print the requirements of one or more extras of pyproject.toml, one per line.

Called by scripts/bootstrap.sh, which installs dependencies into a cached
virtualenv and runs the project from its source tree (so a fresh clone
reuses the environment built for an earlier one).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def requirements(*, extras: list[str]) -> list[str]:
    project = tomllib.loads(
        Path(__file__).resolve().parents[1].joinpath("pyproject.toml").read_text()
    )["project"]
    name = project["name"]
    optional = project.get("optional-dependencies", {})
    seen: set[str] = set()
    out: list[str] = list(project.get("dependencies", []))

    def expand(extra: str) -> None:
        if extra in seen:
            return
        seen.add(extra)
        for req in optional[extra]:
            nested = re.fullmatch(rf"{name}\[(.+)\]", req)
            if nested:
                for inner in nested.group(1).split(","):
                    expand(inner.strip())
            else:
                out.append(req)

    for extra in extras:
        expand(extra)
    return out


if __name__ == "__main__":
    print("\n".join(requirements(extras=sys.argv[1:])))
