"""An artifact's identity: the recipe (name and canonical options) applied to sources on a target.

The key is the blake3 digest of the canonical JSON of the manifest::

    {"recipe": {"name": "...", "options": {...}}, "sources": ["blake3:<hex>", ...], "target": {...}}

(keys sorted, no whitespace, ASCII). Two requests that would build the same bytes get the same
key; a different GPU, driver or library version (the target) is another key, so a node never
loads an engine built for other hardware. The artifact's index entry (``artifact:<key hex>``)
keeps the manifest readable in its ``extra`` fields (``artifact.recipe``, ``artifact.options``,
``artifact.sources``, ``artifact.target``, ``artifact.names``).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxy.digest import Digest
from proxy.storage.index import IndexEntry

NAMESPACE = "artifact:"
RECIPE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_SOURCES = 4096
MAX_TARGET_ITEMS = 64


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: sorted keys, no whitespace, ASCII (what the key hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class RecipeRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(description="The recipe's name, e.g. onnxruntime-optimize")]
    options: dict[str, Any] = Field(default_factory=dict, description="The recipe's canonical options")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RECIPE_NAME.fullmatch(value):
            raise ValueError(f"a recipe name is lowercase letters, digits, '.', '_' and '-': {value[:80]!r}")
        return value


class Manifest(BaseModel):
    """What an artifact is made of; its ``key`` names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: Annotated[tuple[Digest, ...], Field(min_length=1, max_length=MAX_SOURCES,
                                                 description="blake3 digests of the input files, in order")]
    target: Annotated[dict[str, str], Field(max_length=MAX_TARGET_ITEMS,
                                            description="Fingerprint of the machine the output depends on")]
    recipe: RecipeRef

    def canonical(self) -> dict[str, Any]:
        return {"recipe": {"name": self.recipe.name, "options": self.recipe.options},
                "sources": [str(s) for s in self.sources], "target": dict(self.target)}

    @property
    def key(self) -> Digest:
        return Digest.of(canonical_json(self.canonical()).encode("ascii"))

    @property
    def index_key(self) -> str:
        return index_key(self.key)

    def extra(self, names: tuple[str, ...] = ()) -> dict[str, str]:
        """The manifest as an index entry's ``extra`` fields (readable in the record)."""
        fields = {"artifact.recipe": self.recipe.name, "artifact.options": canonical_json(self.recipe.options),
                  "artifact.sources": " ".join(str(s) for s in self.sources),
                  "artifact.target": canonical_json(self.target)}
        if names:
            fields["artifact.names"] = canonical_json(list(names))
        return fields

    @classmethod
    def of_entry(cls, entry: IndexEntry) -> Manifest | None:
        """The manifest an artifact's index entry records; None for other entries (or a broken one)."""
        if not entry.key.startswith(NAMESPACE):
            return None
        extra = entry.extra
        try:
            return cls.model_validate({"sources": extra["artifact.sources"].split(),
                                       "target": json.loads(extra["artifact.target"]),
                                       "recipe": {"name": extra["artifact.recipe"],
                                                  "options": json.loads(extra["artifact.options"])}})
        except (KeyError, ValueError):
            return None


def names_of(entry: IndexEntry) -> tuple[str, ...]:
    try:
        return tuple(json.loads(entry.extra.get("artifact.names", "[]")))
    except ValueError:
        return ()


def index_key(key: Digest) -> str:
    """The index key an artifact is stored under."""
    return f"{NAMESPACE}{key.hex}"


def sources_of(entry: IndexEntry) -> tuple[Digest, ...]:
    """The source digests of an artifact's entry; () for any other entry."""
    manifest = Manifest.of_entry(entry)
    return manifest.sources if manifest is not None else ()
