"""Hub value types parsed at the edge: repo references, revisions and paths in repos."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from proxy.errors import InvalidKey

RepoType = Literal["model", "dataset", "space"]
URL_PREFIX: dict[RepoType, str] = {"model": "", "dataset": "datasets/", "space": "spaces/"}
API_PLURAL: dict[RepoType, str] = {"model": "models", "dataset": "datasets", "space": "spaces"}
FROM_PREFIX: dict[str, RepoType] = {"datasets": "dataset", "spaces": "space"}
FROM_PLURAL: dict[str, RepoType] = {v: k for k, v in API_PLURAL.items()}

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
"""One part of a repo id (the namespace or the name)."""
_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str) -> bool:
    return _COMMIT.fullmatch(revision) is not None


@dataclass(frozen=True, slots=True)
class RepoRef:
    type: RepoType
    id: str  # "org/name", or a legacy "name" without namespace

    def __post_init__(self) -> None:
        parts = self.id.split("/")
        if not 1 <= len(parts) <= 2 or not all(NAME.fullmatch(p) and ".." not in p for p in parts):
            raise InvalidKey(f"not a repo id: {self.id[:100]!r}")

    @property
    def resolve_prefix(self) -> str:
        return f"{URL_PREFIX[self.type]}{self.id}"

    @property
    def api_prefix(self) -> str:
        return f"api/{API_PLURAL[self.type]}/{self.id}"

    def __str__(self) -> str:
        return f"{self.type}/{self.id}"


def check_revision(revision: str) -> str:
    if not revision or len(revision) > 256 or not revision.isprintable() or ".." in revision.split("/"):
        raise InvalidKey(f"not a revision: {revision[:100]!r}")
    return revision


def check_path(path: str) -> str:
    """A file path inside a repo: relative, no dot segments, no empty segments, printable."""
    segments = path.split("/")
    if (not path or len(path) > 1024 or not path.isprintable() or "\\" in path
            or any(s in ("", ".", "..") for s in segments)):
        raise InvalidKey(f"not a path in a repo: {path[:100]!r}")
    return path


@dataclass(frozen=True, slots=True)
class ResolveTarget:
    repo: RepoRef
    revision: str
    path: str


_PCHARS = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")


def check_origin_form(raw_path: str) -> str:
    """A request path (still percent-encoded, without the query) that may be sent on to the Hub:
    origin-form (``/...``, not ``//host...``), only RFC 3986 path characters, and no dot segment
    or backslash, before or after percent-decoding (``/api/..%2f..`` is refused)."""
    if not raw_path.startswith("/") or raw_path.startswith("//") or len(raw_path) > 4096:
        raise InvalidKey("the request target must be a path on this server")
    if not _PCHARS.fullmatch(raw_path):
        raise InvalidKey(f"not a valid path: {raw_path[:100]!r}")
    for segment in raw_path.split("/")[1:]:
        decoded = unquote(segment, errors="strict")
        if "\\" in decoded or not decoded.isprintable() or any(s in (".", "..") for s in decoded.split("/")):
            raise InvalidKey(f"not a valid path: {raw_path[:100]!r}")
    return raw_path


def split_raw(raw_path: str) -> list[str]:
    """Split a raw (still percent-encoded) URL path into decoded segments, so ``%2F`` stays inside one."""
    return [unquote(s) for s in raw_path.split("?")[0].split("/")[1:]]


def parse_resolve(segments: list[str]) -> ResolveTarget:
    """``[datasets|spaces/]<repo>/resolve/<revision>/<path...>``, segments already decoded."""
    repo_type: RepoType = "model"
    if segments and segments[0] in FROM_PREFIX:
        repo_type, segments = FROM_PREFIX[segments[0]], segments[1:]
    if "resolve" not in segments[1:3]:
        raise InvalidKey("not a resolve URL")
    at = segments.index("resolve", 1)
    if len(segments) < at + 3:
        raise InvalidKey("resolve URL needs a revision and a path")
    repo = RepoRef(repo_type, "/".join(segments[:at]))
    return ResolveTarget(repo, check_revision(segments[at + 1]), check_path("/".join(segments[at + 2:])))


def quote_revision(revision: str) -> str:
    return quote(revision, safe="")


def quote_path(path: str) -> str:
    return quote(path, safe="/")


@dataclass(frozen=True, slots=True)
class ApiTarget:
    """``/api/<plural>/<repo>[/<action>/<revision>[/<path>]]``; action is info, revision, tree, paths-info, ..."""

    repo: RepoRef
    action: str
    revision: str | None


_ACTIONS = ("revision", "tree", "paths-info", "xet-read-token", "xet-write-token", "refs", "commits",
            "resolve-cache", "preupload", "commit")


def parse_api(segments: list[str]) -> ApiTarget | None:
    """Classify an /api path (segments decoded, starting after ``api``); None if not about one repo."""
    if not segments or segments[0] not in FROM_PLURAL or len(segments) < 2:
        return None
    repo_type, rest = FROM_PLURAL[segments[0]], segments[1:]
    for at in (1, 2):
        if len(rest) > at and rest[at] in _ACTIONS:
            repo = RepoRef(repo_type, "/".join(rest[:at]))
            revision = check_revision(rest[at + 1]) if len(rest) > at + 1 else None
            return ApiTarget(repo, rest[at], revision)
    if len(rest) > 2:
        return None
    return ApiTarget(RepoRef(repo_type, "/".join(rest)), "info", None)
