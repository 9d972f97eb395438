"""Recipe options: a frozen pydantic model per recipe, strict about types and unknown keys, whose
``canonical`` form (every default written out, JSON types only) is what an artifact key hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from proxy.artifacts.recipe import RecipeError


class Options(BaseModel):
    """Base of every recipe's options: no unknown keys, no coercion of "1" into 1."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


OptionsT = TypeVar("OptionsT", bound=Options)


def parse(model: type[OptionsT], recipe: str, options: Mapping[str, Any]) -> OptionsT:
    """``options`` validated as ``model``; ``RecipeError`` names every bad field."""
    if not isinstance(options, Mapping):
        raise RecipeError(f"{recipe}: options must be a JSON object")
    try:
        return model.model_validate(dict(options))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in error.errors())
        raise RecipeError(f"{recipe}: {problems}") from None


def canonical(model: type[OptionsT], recipe: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The validated options with defaults filled in, as plain JSON values."""
    return parse(model, recipe, options).model_dump(mode="json")
