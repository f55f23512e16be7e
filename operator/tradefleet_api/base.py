"""The base of every generated API model: immutable, built from camelCase or snake_case keys.

The generated modules (``tradingbot``, ``signalsource``) derive from :class:`ApiModel`. Extra
keys are ignored, as the apiserver prunes them: a document written by a newer operator still
parses in an older runtime. Types are strict, as the apiserver's are: ``true`` is not a number
and ``"0.5"`` is not one either (an integer is a number); nor is NaN or infinity.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """A frozen pydantic model of a piece of a CRD's ``spec``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", strict=True)
