"""Azure Storage's SharedKey authorization, as documented ("Authorize with Shared Key", Blob
service, version 2009-09-19 and later), over an aiohttp request we build ourselves.

    StringToSign = VERB \\n Content-Encoding \\n Content-Language \\n Content-Length \\n Content-MD5 \\n
                   Content-Type \\n Date \\n If-Modified-Since \\n If-Match \\n If-None-Match \\n
                   If-Unmodified-Since \\n Range \\n CanonicalizedHeaders CanonicalizedResource
    Authorization: SharedKey <account>:base64(HMAC-SHA256(base64decode(key), UTF-8(StringToSign)))

CanonicalizedHeaders: every ``x-ms-`` header, name lower-cased, sorted, ``name:value\\n`` (value
trimmed, inner runs of whitespace folded). CanonicalizedResource: ``/<account><encoded path>``, then
per query parameter, sorted by lower-cased name, ``\\n<name>:<values, decoded, sorted, comma-joined>``.
A Content-Length of 0 is signed as empty. We send ``x-ms-range`` (a canonicalized header), not
``Range``, as Azure's SDKs do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

_STANDARD = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
             "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")
_SPACES = re.compile(r"\s+")


def canonical_headers(headers: Mapping[str, str]) -> str:
    found = sorted((k.lower(), _SPACES.sub(" ", v.strip())) for k, v in headers.items()
                   if k.lower().startswith("x-ms-"))
    return "".join(f"{name}:{value}\n" for name, value in found)


def canonical_resource(account: str, raw_path: str, query: Iterable[tuple[str, str]]) -> str:
    """``raw_path``: the path as sent (percent-encoded); ``query``: decoded (name, value) pairs."""
    values: dict[str, list[str]] = {}
    for name, value in query:
        values.setdefault(name.lower(), []).append(value)
    text = f"/{account}{raw_path or '/'}"
    for name in sorted(values):
        text += f"\n{name}:{','.join(sorted(values[name]))}"
    return text


def string_to_sign(method: str, account: str, raw_path: str, query: Iterable[tuple[str, str]],
                   headers: Mapping[str, str]) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    standard = [lower.get(name, "") for name in _STANDARD]
    if standard[2] == "0":
        standard[2] = ""
    return (method.upper() + "\n" + "".join(f"{v}\n" for v in standard)
            + canonical_headers(headers) + canonical_resource(account, raw_path, query))


def authorization(key: str, method: str, account: str, raw_path: str, query: Iterable[tuple[str, str]],
                  headers: Mapping[str, str]) -> str:
    """The ``Authorization`` value; ``key`` is the account key as Azure shows it (base64)."""
    text = string_to_sign(method, account, raw_path, query, headers)
    mac = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(mac).decode('ascii')}"
