"""The bodies of the control API as pydantic models: what a call may carry and what it answers.

Requests are validated strictly (``"60"`` is not a number, ``true`` is not one either; unknown
fields are ignored) after ``proxy.control.guard.read_json`` has checked the content type, size,
nesting and NaN/Infinity. A body that does not validate is ``400 {"error": message}``. The
answers' models are the records the control API keeps (``Pin``, ``WatchRecord``) or views made
for it here; ``proxy.control.openapi`` builds the OpenAPI document from all of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from proxy.artifacts.key import RecipeRef
from proxy.artifacts.prebuild import WatchBuild
from proxy.control.eviction import EvictionReport
from proxy.control.guard import Refused
from proxy.control.watches import MAX_GRACE, MAX_INTERVAL, MIN_INTERVAL


def _as_list(value: Any) -> Any:
    """One pattern may be given as a string; null means none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


Url = Annotated[str, Field(min_length=1, description="A model URL: hf://, s3:// or http(s)://")]
Patterns = Annotated[list[str], BeforeValidator(_as_list, json_schema_input_type=list[str] | str | None),
                     Field(default_factory=list, description="fnmatch patterns (one string or a list)")]
Token = Annotated[str | None, AfterValidator(lambda token: token or None),
                  Field(description="The upstream token to list with and download with (never stored)")]


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class PrefetchRequest(RequestBody):
    url: Url
    pin: bool = False
    allow_patterns: Patterns
    ignore_patterns: Patterns
    token: Token = None


class PinRequest(RequestBody):
    url: Url
    token: Token = None


class WatchRequest(RequestBody):
    url: Url
    interval: Annotated[float | None, Field(ge=MIN_INTERVAL, le=MAX_INTERVAL,
                                            description="Seconds between checks (default --watch-interval)")] = None
    grace: Annotated[float | None, Field(ge=0.0, le=MAX_GRACE, description="Seconds the version switched "
                                         "away from stays pinned (default --watch-grace)")] = None
    builds: Annotated[list[WatchBuild] | None, Field(max_length=16, description="Derived artifacts to build "
                                                     "for each new version before the switch (null: keep)")] = None


class BuildRequest(RequestBody):
    sources: Annotated[list[str], Field(min_length=1, max_length=4096, description="Each a `blake3:<hex>` blob "
                                        "on the volume, or a model URL fetched through the cache (every file "
                                        "of it, in path order)")]
    recipe: Annotated[str, Field(min_length=1, max_length=64, description="The recipe's name")]
    options: dict[str, Any] = Field(default_factory=dict, description="The recipe's options (canonicalized)")
    target: dict[str, str] | None = Field(None, description="The machine fingerprint to build for; omitted: "
                                          "the one target the build workers seen lately offer for the recipe")
    names: list[str] = Field(default_factory=list, description="File names of digest sources, in order")
    retry: bool = Field(False, description="Build again now after a failed build (without it, a failure is "
                        "kept for --build-failure-ttl seconds, then the next request builds again)")
    token: Token = None


class ClaimRequest(RequestBody):
    worker: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", description="The worker's name")]
    offers: Annotated[dict[str, dict[str, str]], Field(max_length=64, description="Recipe name -> the target "
                                                       "this worker builds it for")]
    wait: Annotated[float, Field(ge=0.0, le=30.0, description="Seconds to wait for a build")] = 0.0
    keys: Annotated[list[str] | None, Field(max_length=64, description="Only these builds (a node that "
                                            "builds its own artifact); null: any")] = None


class RenewRequest(RequestBody):
    token: Annotated[int, Field(ge=1, description="The fencing token of the claim")]


class FailRequest(RequestBody):
    token: Annotated[int, Field(ge=1, description="The fencing token of the claim")]
    error: Annotated[str, Field(max_length=4000)]
    log_tail: Annotated[str, Field(max_length=16384, description="The end of the build's log")] = ""


Request = TypeVar("Request", bound=RequestBody)


def parse(model: type[Request], body: dict[str, Any]) -> Request:
    """``body`` as ``model``; Refused(400) naming every field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise Refused(400, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                                     for e in exc.errors(include_url=False))) from exc


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class WatchRemoved(View):
    url: str
    removed: bool


class EvictionView(EvictionReport):
    quota: int


class ErrorBody(View):
    error: str


class Health(View):
    status: Literal["ok"]
    version: str


class Readiness(View):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]
    mode: Literal["embedded", "cluster"]
    node_id: str
    free_bytes: int = Field(description="Free space on the cache volume")
    degraded: bool = Field(description="Redis is unreachable (cluster mode), or the volume has less free space "
                                       "than --disk-reserve-bytes: hits are still served (checks says which)")


class ArtifactView(View):
    """A stored artifact: its key, its blob and the manifest the key is the digest of."""

    key: str
    digest: str
    size: int
    created_at: float
    recipe: RecipeRef
    sources: list[str]
    target: dict[str, str]
    names: list[str]


class BuildFailedBody(View):
    error: str
    state: Literal["failed"]
    log_tail: str | None = Field(None, description="The end of the builder's log")


class BuildRenewed(View):
    key: str
    renewed: bool


class NotBuilt(View):
    error: str
    state: Literal["pending", "building", "unknown", "no_worker"]
    offered: list[dict[str, str]] | None = Field(None, description="State no_worker (503): the targets live "
                                                 "build workers offer for this recipe")
    recipe: str | None = Field(None, description="State no_worker: the artifact's recipe")
    target: dict[str, str] | None = Field(None, description="State no_worker: the artifact's target, which no "
                                          "live build worker offers")
