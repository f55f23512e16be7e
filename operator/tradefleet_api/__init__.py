"""The TradingBot and SignalSource API as Python: models generated from ``crds/``, and what
the operator and the runtime must agree on about a document.

- :mod:`tradefleet_api.models`: pydantic models and enums of each CRD's ``spec``, generated
  by ``python -m tradefleet_devtools.api_models`` (CI fails when they are stale). Their
  defaults, bounds and enums are the CRD's.
- :func:`validate`: a document read into a generated model, strictly typed as the apiserver
  types it.
- :func:`content_hash`: the hash of a rendered document; the operator stamps it on a revision
  and the runtime reports the one it runs, so both must compute it the same way.
- :func:`validation_problem` / :func:`describe_validation_error`: a model's validation error
  as the field and what is wrong with it.

Depends on pydantic only; imported by the operator and the bot runtime, never the reverse.
"""

from tradefleet_api.contract import (
    canonical_json,
    content_hash,
    describe_validation_error,
    validate,
    validation_problem,
)

__all__ = [
    "canonical_json",
    "content_hash",
    "describe_validation_error",
    "validate",
    "validation_problem",
]
