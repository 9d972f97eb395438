"""Derived artifacts from the client: ``get_artifact`` returns a local path to a compiled engine or
compiler cache, built once per cluster by a build worker (see docs/artifacts.md).

It requests the build (``POST /v1/builds``; a stored artifact answers at once), waits on it with
long polls (``GET /v1/artifacts/{key}?wait=``), and downloads it next to earlier ones under
``dest`` (default ``$MODELMANAGER_ARTIFACTS``, else ``~/.cache/modelmanager/artifacts``), named by
its key and verified against its blake3 digest. A key names one output for one target, so a file
already there is used without asking the proxy again. A failed build raises ``BuildFailed`` with
the builder's log tail.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import blake3

from modelmanager_client.errors import AccessDenied, ClientError, IntegrityError, NotFound, ProxyUnavailable
from modelmanager_client.info import proxy_base

TOKEN_ENV = "MODELMANAGER_ADMIN_TOKEN"
DEST_ENV = "MODELMANAGER_ARTIFACTS"
POLL = 60.0
CHUNK = 1 << 20


class BuildFailed(ClientError):
    """The artifact's build failed; ``log_tail`` is the end of the builder's log."""

    def __init__(self, message: str, log_tail: str | None) -> None:
        super().__init__(message)
        self.log_tail = log_tail or ""


def default_dest() -> Path:
    return Path(os.environ.get(DEST_ENV) or Path.home() / ".cache" / "modelmanager" / "artifacts")


def get_artifact(sources: str | Sequence[str], recipe: str, *, options: Mapping[str, Any] | None = None,
                 target: Mapping[str, str] | None = None, host: str | None = None, token: str | None = None,
                 dest: str | Path | None = None, timeout: float = 3600.0) -> Path:
    """The local path of ``recipe`` applied to ``sources`` (model URLs or ``blake3:<hex>`` digests).

    ``target``: the machine fingerprint to build for; None: the one the proxy's build workers offer.
    ``token``: the admin token (default ``$MODELMANAGER_ADMIN_TOKEN``). Raises BuildFailed, NotFound,
    AccessDenied, ProxyUnavailable, IntegrityError, or TimeoutError after ``timeout`` seconds."""
    api = _Api(proxy_base(host), token or os.environ.get(TOKEN_ENV))
    body = {"sources": [sources] if isinstance(sources, str) else list(sources), "recipe": recipe,
            "options": dict(options or {}), "target": dict(target) if target is not None else None}
    status, answer = api.json("POST", "/v1/builds", body)
    if status not in (200, 202):
        raise _error(status, answer, f"build request for {recipe}")
    key = str(answer["key"])
    folder = Path(dest) if dest is not None else default_dest()
    path = folder / key
    if path.is_file():
        return path
    if answer["state"] == "failed":
        raise BuildFailed(f"the build of {key} failed: {answer.get('error')}", answer.get("log_tail"))
    deadline = time.monotonic() + timeout
    while True:
        wait = max(0.0, min(POLL, deadline - time.monotonic()))
        if api.download(f"/v1/artifacts/{key}?wait={wait:.1f}", path):
            return path
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the artifact {key} was not built within {timeout:g} seconds")


class _Api:
    def __init__(self, base: str, token: str | None) -> None:
        parts = urlsplit(base)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._netloc, timeout=POLL + 60)

    def json(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        conn = self._connection()
        try:
            conn.request(method, self._prefix + path, body=json.dumps(body).encode(),
                         headers={**self._headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        except (OSError, http.client.HTTPException) as exc:
            raise ProxyUnavailable(f"cannot reach the proxy at {self._netloc}: {exc}") from exc
        finally:
            conn.close()

    def download(self, path: str, into: Path) -> bool:
        """True when the artifact was saved to ``into``; False while its build runs."""
        conn = self._connection()
        try:
            conn.request("GET", self._prefix + path, headers=self._headers)
            response = conn.getresponse()
            if response.status != 200:
                data = response.read()
                answer = json.loads(data) if data.startswith(b"{") else {}
                if response.status == 404 and answer.get("state") in ("pending", "building"):
                    return False
                if response.status == 502 and answer.get("state") == "failed":
                    raise BuildFailed(answer.get("error", "the build failed"), answer.get("log_tail"))
                raise _error(response.status, answer, path)
            _save(response, into, response.getheader("X-MM-Blob-Digest", ""))
            return True
        except (OSError, http.client.HTTPException) as exc:
            raise ProxyUnavailable(f"cannot reach the proxy at {self._netloc}: {exc}") from exc
        finally:
            conn.close()


def _save(response: http.client.HTTPResponse, into: Path, digest: str) -> None:
    """Write the body to a temp file next to ``into``, check its blake3, then rename it into place."""
    into.parent.mkdir(parents=True, exist_ok=True)
    hasher = blake3.blake3()
    fd, tmp = tempfile.mkstemp(dir=into.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := response.read(CHUNK):
                hasher.update(chunk)
                f.write(chunk)
        if digest.removeprefix("blake3:") != hasher.hexdigest():
            raise IntegrityError(f"the artifact {into.name} does not match its digest {digest}")
        os.replace(tmp, into)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _error(status: int, answer: Any, what: str) -> ClientError:
    message = answer.get("error", "") if isinstance(answer, dict) else ""
    if status in (401, 403):
        return AccessDenied(f"{what}: {status} {message}")
    if status == 404:
        return NotFound(f"{what}: {message}")
    if status >= 500:
        return ProxyUnavailable(f"{what}: {status} {message}")
    return ClientError(f"{what}: {status} {message}")
