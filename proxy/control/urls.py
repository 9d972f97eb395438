"""Model URLs: what operators name in the control API and the CLI. One parser for every scheme.

    hf://[datasets/|spaces/]org/repo[@revision][/path]    a repo, a folder or a file at a revision
    s3://bucket[/key-or-prefix]                           an object, or every object under a prefix
    https://host/path, http://...                         one file

The parser checks shape only (names, no dot segments, printable); each adapter's catalog checks
the rest (allow lists, whether the repo exists).

``redact`` is the one function that takes credentials out of URLs and of the cache keys made from
them (``http:<url>``) before they leave the process: log lines, ``/v1/status``, metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from yarl import URL

from proxy.errors import InvalidKey

RepoType = Literal["model", "dataset", "space"]
_TYPE_PREFIX: dict[str, RepoType] = {"datasets": "dataset", "spaces": "space"}
_PREFIX_OF: dict[RepoType, str] = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


REDACTED = "REDACTED"
SECRET_PARAMS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
                 "x-goog-credential", "signature", "sig", "token", "access_token", "api_key", "apikey",
                 "key-pair-id", "policy", "googleaccessid", "password", "secret")
"""Query parameters whose values are credentials (SigV4, GCS, CloudFront, Azure SAS, tokens), any case."""
_SECRET_PARAM = re.compile(r"(?i)((?:[?&;]|%3F|%26)(?:" + "|".join(re.escape(p) for p in SECRET_PARAMS)
                           + r")(?:=|%3D))(?:[^&;#%\s\"'<>]|%(?!26|23))*")
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@")


def redact(text: str) -> str:
    """``text`` with the values of credential query parameters and URL user-info replaced by
    ``REDACTED``; everything else (host, path, other parameters) is kept for the operator."""
    if "=" not in text and "@" not in text and "%3D" not in text.upper():
        return text
    return _USERINFO.sub(rf"\1{REDACTED}@", _SECRET_PARAM.sub(rf"\1{REDACTED}", text))


class InvalidUrl(InvalidKey):
    """A model URL that does not parse."""


@dataclass(frozen=True, slots=True)
class HfUrl:
    repo_type: RepoType
    repo_id: str
    revision: str | None = None
    """None: the repo's default branch (``main``)."""
    path: str | None = None
    """A file or folder inside the repo; None: the whole repo."""

    @property
    def ref(self) -> str:
        return self.revision or "main"

    def at(self, revision: str) -> HfUrl:
        return replace(self, revision=revision)

    def __str__(self) -> str:
        text = f"hf://{_PREFIX_OF[self.repo_type]}{self.repo_id}"
        if self.revision is not None:
            text += f"@{self.revision}"
        return text + (f"/{self.path}" if self.path else "")


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    key: str = ""
    """An object key, or a prefix (``""``: the whole bucket)."""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class HttpUrl:
    url: URL

    def __str__(self) -> str:
        return str(self.url)


ModelUrl = HfUrl | S3Url | HttpUrl


def parse_url(text: str) -> ModelUrl:
    """Parse ``text``; raise InvalidUrl with a message a person can act on."""
    if not text or len(text) > 4096 or not text.isprintable():
        raise InvalidUrl("a URL is a non-empty printable string")
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidUrl(f"not a URL (hf://, s3:// or https://): {text[:100]!r}")
    scheme = scheme.lower()
    if scheme == "hf":
        return _parse_hf(rest)
    if scheme == "s3":
        return _parse_s3(rest)
    if scheme in ("http", "https"):
        return _parse_http(text)
    raise InvalidUrl(f"unknown scheme {scheme!r}: use hf://, s3://, http:// or https://")


def _segments(path: str, what: str) -> list[str]:
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise InvalidUrl(f"{what} has an empty or dot segment: {path[:100]!r}")
    return parts


def _parse_hf(rest: str) -> HfUrl:
    parts = _segments(rest.rstrip("/"), "hf:// URL") if rest.rstrip("/") else []
    repo_type: RepoType = "model"
    if parts and parts[0] in _TYPE_PREFIX:
        repo_type, parts = _TYPE_PREFIX[parts[0]], parts[1:]
    if len(parts) < 2:
        raise InvalidUrl("hf:// needs org/repo, e.g. hf://openai-community/gpt2")
    org, name_rev, path_parts = parts[0], parts[1], parts[2:]
    name, at, revision = name_rev.partition("@")
    if not _NAME.fullmatch(org) or not _NAME.fullmatch(name):
        raise InvalidUrl(f"not a repo id: {org}/{name}")
    if at and not revision:
        raise InvalidUrl("empty revision after @")
    if revision and (len(revision) > 256 or ".." in revision):
        raise InvalidUrl(f"not a revision: {revision[:100]!r}")
    return HfUrl(repo_type, f"{org}/{name}", revision or None, "/".join(path_parts) or None)


def _parse_s3(rest: str) -> S3Url:
    bucket, _, key = rest.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidUrl(f"not a bucket name: {bucket[:100]!r}")
    if key.rstrip("/"):
        _segments(key.rstrip("/"), "s3:// key")
    return S3Url(bucket, key)


def _parse_http(text: str) -> HttpUrl:
    try:
        url = URL(text)
    except ValueError as exc:
        raise InvalidUrl(f"not a URL: {exc}") from exc
    if not url.host or url.user is not None or url.password is not None:
        raise InvalidUrl("an http(s) URL needs a host and no credentials")
    if url.fragment:
        url = url.with_fragment(None)
    return HttpUrl(url)
