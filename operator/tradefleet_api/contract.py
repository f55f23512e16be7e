"""What the operator and the runtime compute identically about a document.

``content_hash`` is called by the operator's renderers (the config hash of a revision) and by
the runtime's config loader (the hash it reports running); ``describe_validation_error`` by
the runtime when a rendered document fails a generated model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def canonical_json(document: Mapping[str, Any]) -> str:
    """``document`` as JSON with sorted keys and no spaces: equal content, equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def content_hash(document: Mapping[str, Any]) -> str:
    """The first 10 hex digits of the sha256 of ``document``'s canonical JSON."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:10]


def describe_validation_error(error: ValidationError, *, path: str) -> str:
    """The first problem of ``error`` as "path.field: what is wrong, got value".

    ``path`` is where the validated object sits in its document ("strategy"); the field is
    spelled as the document spells it (camelCase).
    """
    first = error.errors()[0]
    where = ".".join([path, *(str(part) for part in first["loc"])])
    # A missing field has no value to show.
    got = "" if first["type"] == "missing" else f", got {first['input']!r}"
    return f"{where}: {first['msg']}{got}"
