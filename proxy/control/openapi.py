"""The OpenAPI 3.1 document of the control API, generated from its pydantic models.

Served at ``GET /v1/openapi.json`` without a token: it describes the API and holds no data.
Every other route of the document needs ``Authorization: Bearer <admin token>`` (the ``bearer``
scheme) except ``/healthz``, ``/readyz`` and ``/metrics``. tests/adapters/hf/test_control_openapi.py
calls each route and checks the answers against this document.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from proxy import __version__
from proxy.artifacts.builds import BuildRecord, BuildView, Claim
from proxy.control.artifacts import DIGEST_HEADER as DIGEST
from proxy.control.artifacts import MANIFEST_HEADER as MANIFEST
from proxy.control.guard import MAX_BODY, MAX_DEPTH
from proxy.control.jobs import JobView
from proxy.control.pins import Pin
from proxy.control.schema import (
    ArtifactView,
    BuildFailedBody,
    BuildRenewed,
    BuildRequest,
    ClaimRequest,
    ErrorBody,
    EvictionView,
    FailRequest,
    Health,
    NotBuilt,
    PinRequest,
    PrefetchRequest,
    Readiness,
    RenewRequest,
    WatchRemoved,
    WatchRequest,
)
from proxy.control.watches import WatchRecord

Json = dict[str, Any]
REF = "#/components/schemas/{model}"
_INPUTS: tuple[type[BaseModel], ...] = (PrefetchRequest, PinRequest, WatchRequest, BuildRequest, ClaimRequest,
                                        RenewRequest, FailRequest)
_OUTPUTS: tuple[type[BaseModel], ...] = (JobView, Pin, WatchRecord, WatchRemoved, EvictionView, ErrorBody, Health,
                                         Readiness, ArtifactView, BuildView, BuildRecord, Claim, BuildRenewed,
                                         BuildFailedBody, NotBuilt)
_ERRORS = {
    400: "A bad value (the message names it)", 401: "No or wrong `Authorization: Bearer <admin token>`",
    403: "A cross-site browser request, or refused (e.g. --offline)", 404: "Not found",
    409: "Another holder has the lease (the eviction pass; a build taken over by another worker)",
    411: "Content-Length is required", 413: f"The body is larger than {MAX_BODY} bytes",
    415: "The body is not application/json", 502: "The upstream failed", 507: "The cache volume is full",
    "4XX": "The upstream's client error, passed through",
}


def _ref(model: type[BaseModel]) -> Json:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: Json, description: str, headers: Json | None = None) -> Json:
    answer: Json = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _errors(*codes: int | str) -> Json:
    return {str(c): _json(_ref(ErrorBody), _ERRORS[c]) for c in codes}


def _op(summary: str, ok: Json, *errors: int | str, body: type[BaseModel] | None = None,
        params: list[Json] | None = None, public: bool = False) -> Json:
    refused: tuple[int, ...] = () if public else (401, 403)
    if body is not None:
        refused += (400, 413, 415)
    op: Json = {"summary": summary, "responses": {**ok, **_errors(*sorted(set(refused + errors), key=str))}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _query(name: str, schema: Json, description: str, required: bool = False, where: str = "query") -> Json:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


def _list(model: type[BaseModel]) -> Json:
    return {"type": "array", "items": _ref(model)}


URL_PARAM = _query("url", {"type": "string", "minLength": 1}, "The URL as pinned or watched", required=True)


def _paths() -> Json:
    job, pins = _ref(JobView), _list(Pin)
    wait = _query("wait", {"type": "number", "minimum": 0, "maximum": 30}, "Seconds to wait for the job to finish")
    return {
        "/v1/prefetch": {"post": _op("Start a prefetch job", {"202": _json(job, "The job, started", {
            "Location": {"schema": {"type": "string"}, "description": "/v1/jobs/{id}"}})},
            403, 502, "4XX", body=PrefetchRequest)},
        "/v1/jobs": {"get": _op("This node's jobs", {"200": _json(_list(JobView), "Oldest first")})},
        "/v1/jobs/{id}": {"get": _op("One job", {"200": _json(job, "The job")}, 400, 404, params=[
            _query("id", {"type": "string"}, "The job's id", required=True, where="path"), wait])},
        "/v1/pins": {
            "get": _op("Every pin", {"200": _json(pins, "By URL, then age")}),
            "post": _op("Pin a URL at the version it names now", {"201": _json(_ref(Pin), "The pin")},
                        502, "4XX", body=PinRequest),
            "delete": _op("Unpin every version of a URL", {"200": _json(pins, "The pins removed")}, 400, 404,
                          params=[URL_PARAM]),
        },
        "/v1/watches": {
            "get": _op("Every watch of this node", {"200": _json(_list(WatchRecord), "By URL")}),
            "post": _op("Watch a branch or prefix (or change a watch)", {"201": _json(_ref(WatchRecord), "The watch")},
                        body=WatchRequest),
            "delete": _op("Stop watching a URL", {"200": _json(_ref(WatchRemoved), "Removed")}, 400, 404,
                          params=[URL_PARAM]),
        },
        **_artifact_paths(),
        "/v1/evict": {"post": _op("One eviction pass now", {"200": _json(_ref(EvictionView), "The pass")}, 409)},
        "/v1/status": {"get": _op("The node's status document (what the dashboard shows)",
                                  {"200": _json({"type": "object"}, "Status")})},
        "/v1/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                                        public=True)},
        "/healthz": {"get": _op("Liveness", {"200": _json(_ref(Health), "Alive")}, public=True)},
        "/readyz": {"get": _op("Readiness: the cache volume is writable (Redis reported, never required)", {
            "200": _json(_ref(Readiness), "Ready"), "503": _json(_ref(Readiness), "Not ready")}, public=True)},
        "/metrics": {"get": _op("Prometheus metrics", {"200": {"description": "Text exposition format", "content": {
            "text/plain": {"schema": {"type": "string"}}}}}, public=True)},
    }


def _bytes(description: str, headers: Json | None = None) -> Json:
    answer: Json = {"description": description, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}
    if headers:
        answer["headers"] = headers
    return answer


def _artifact_paths() -> Json:
    key = _query("key", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "The artifact's key (blake3 of its "
                 "manifest's canonical JSON)", required=True, where="path")
    wait = _query("wait", {"type": "number", "minimum": 0, "maximum": 300},
                  "Seconds to wait for a build in progress")
    artifact_read = {
        "200": _bytes("The artifact's bytes (Range and conditionals as for any cached file: 206, 304, 412, 416)"),
        "404": _json(_ref(NotBuilt), "Not stored (yet): state says whether a build is pending or running"),
        "502": _json(_ref(BuildFailedBody), "The build failed: the error and the builder's log tail"),
        "503": _json(_ref(NotBuilt), "No live build worker offers the artifact's recipe and target (state "
                     "no_worker; offered lists the targets they do offer); Retry-After says when to ask again")}
    read = _op("An artifact's bytes, or wait for its build", artifact_read, 400, params=[key, wait])
    head = _op("An artifact's size and validators", {"200": _bytes("No body"), "404": {"description": "Not stored"},
                                                      "502": {"description": "The build failed"}}, 400,
               params=[key, wait])
    put = _op("Store an artifact (a node sends back what it built)", {
        "201": _json(_ref(ArtifactView), "Stored"), "200": _json(_ref(ArtifactView), "Already stored")},
        400, 411, 507, params=[key, _query(MANIFEST, {"type": "string"}, "JSON: sources, target, recipe "
                                           "{name, options}, names (optional)", required=True, where="header"),
                               _query(DIGEST, {"type": "string"}, "blake3:<hex> of the body", required=True,
                                      where="header")])
    put["requestBody"] = {"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}
    build = _query("key", {"type": "string"}, "The artifact's key", required=True, where="path")
    return {
        "/v1/artifacts/{key}": {"get": read, "head": head, "put": put},
        "/v1/artifacts": {"get": _op("Stored artifacts, for which targets", {"200": _json(_list(ArtifactView),
                                                                                        "By recipe, then age")}, 400,
                                     params=[_query("source", {"type": "string"}, "Only those built from this "
                                                    "blake3 digest"),
                                             _query("recipe", {"type": "string"}, "Only this recipe's")])},
        "/v1/builds": {
            "get": _op("Build records (pending, building, failed)", {"200": _json(_list(BuildRecord), "Oldest first")}),
            "post": _op("Request a build", {"202": _json(_ref(BuildView), "Requested (pending, building or failed)"),
                                            "200": _json(_ref(BuildView), "Already stored (ready)")},
                        502, "4XX", body=BuildRequest)},
        "/v1/builds/{key}": {"get": _op("A build's state", {"200": _json(_ref(BuildView), "The state")}, 400,
                                        params=[build, wait])},
        "/v1/builds/claim": {"post": _op("A build worker takes a build (long poll)", {
            "200": _json(_ref(Claim), "A build, leased to the worker"),
            "204": {"description": "No build within wait"}}, body=ClaimRequest)},
        "/v1/builds/{key}/renew": {"post": _op("Renew a build's lease", {"200": _json(_ref(BuildRenewed), "Renewed")},
                                               409, body=RenewRequest, params=[build])},
        "/v1/builds/{key}/fail": {"post": _op("Report a failed build", {"200": _json(_ref(BuildView), "Recorded")},
                                              409, body=FailRequest, params=[build])},
        "/v1/blobs/{digest}": {"get": _op("A committed blob by digest (a build's sources)", {
            "200": _bytes("The blob's bytes (Range and conditionals)"), "404": _json(_ref(ErrorBody), "Not stored")},
            400, params=[_query("digest", {"type": "string"}, "blake3:<hex> or <hex>", required=True,
                                where="path")])},
    }


@functools.cache
def document() -> Json:
    """The document (built once; callers must not change it)."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in _INPUTS]
    pairs += [(m, "serialization") for m in _OUTPUTS]
    _, defs = models_json_schema(pairs, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Model Manager control API", "version": __version__, "description": (
            "Prefetch jobs, pins, watches, eviction, derived artifacts and their builds of a Model Manager "
            "proxy node. Request bodies are "
            f"application/json objects of at most {MAX_BODY} bytes, nested at most {MAX_DEPTH} deep, without "
            "NaN or Infinity; unknown fields are ignored. Errors are {\"error\": message}.")},
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {"schemas": defs["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "The admin token (--admin-token, or the "
                                                                     "admin-token file on the cache volume)"}}},
    }
