"""A running Triton, through ``tritonclient`` over HTTP (``http://host:8000``) or gRPC
(``grpc://host:8001``): readiness, the repository index, load/unload, model configs.

Errors become ``TritonUnavailable`` (nothing answered: the URL is printed) or ``TritonRefused``
(Triton answered with an error: its message is kept word for word, e.g. ``failed to load 'x'
version 1: ...``).

tritonclient's HTTP client runs on gevent and must be used by the thread that created it; the
gRPC client has no such limit.
"""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

URL_ENV = "MODELMANAGER_TRITON_URL"
DEFAULT_URL = "http://127.0.0.1:8000"
CONNECT_TIMEOUT = 10.0
LOAD_TIMEOUT = 900.0
"""Seconds a load may take (large models; Triton answers when the load is done)."""


class TritonError(Exception):
    """Talking to Triton failed."""


class TritonUnavailable(TritonError):
    """Nothing answered at the URL (refused, unresolvable, timed out, or not ready)."""


class TritonRefused(TritonError):
    """Triton answered with an error; ``str()`` carries Triton's own message."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    name: str
    version: str
    state: str
    reason: str


def server_message(message: str, body: str | None) -> str:
    """The server's own words from a tritonclient error. tritonclient reads an HTTP error body as
    Triton's ``{"error": ...}``; other KServe v2 servers answer ``{"detail": ...}`` or a traceback,
    which it reports as "an exception occurred ... decoding the response" with the body beside:
    keep the body's message, or its last line."""
    if not body:
        return message
    try:
        answer = json.loads(body)
    except ValueError:
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        return lines[-1] if lines else message
    if isinstance(answer, dict):
        for key in ("error", "detail", "message"):
            if key in answer:
                return str(answer[key])
    return body[:500]


def _unavailable(status: str | None, message: str) -> bool:
    return status in ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED") or (
        status is None and "empty response" in message)


class Triton:
    """One Triton server. ``url``: ``http://``, ``https://``, ``grpc://`` or ``grpcs://`` and host:port."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
        if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
            raise TritonError(f"--triton-url must be http://host:port or grpc://host:port: {self.url!r}")
        self.grpc = parts.scheme.startswith("grpc")
        port = parts.port or (8001 if self.grpc else 8000)
        secure = parts.scheme in ("https", "grpcs")
        self._host, self._port, self._secure = parts.hostname, port, secure
        self.address = address = f"{parts.hostname}:{port}"
        self._client: Any
        if self.grpc:
            import tritonclient.grpc

            self._client = tritonclient.grpc.InferenceServerClient(address, ssl=secure)
        else:
            import tritonclient.http

            self._client = tritonclient.http.InferenceServerClient(
                address, ssl=secure, connection_timeout=CONNECT_TIMEOUT, network_timeout=LOAD_TIMEOUT)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Triton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        if self.grpc:
            kwargs.setdefault("client_timeout", LOAD_TIMEOUT if method in ("load_model", "unload_model")
                              else CONNECT_TIMEOUT)
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except InferenceServerException as exc:
            message = server_message(exc.message() or str(exc), None if self.grpc else exc.debug_details())
            if _unavailable(exc.status(), message):
                raise TritonUnavailable(f"Triton at {self.url} is unreachable ({what}): {message}") from exc
            status = f"{exc.status()}: " if exc.status() and not self.grpc else ""
            raise TritonRefused(f"{what}: {status}{message}") from exc
        except (OSError, TimeoutError) as exc:
            raise TritonUnavailable(f"Triton at {self.url} is unreachable ({what}): {exc}") from exc
        except Exception as exc:  # gevent's Timeout is not an Exception subclass of the above
            if type(exc).__name__ == "Timeout":
                raise TritonUnavailable(f"Triton at {self.url} did not answer in time ({what})") from exc
            raise

    def ready(self) -> bool:
        return bool(self._call("server ready", "is_server_ready"))

    def index(self) -> list[IndexEntry]:
        if self.grpc:
            answer = self._call("repository index", "get_model_repository_index", as_json=True)
            rows = answer.get("models", [])
        else:
            rows = self._http_index()
        return [IndexEntry(str(r.get("name", "")), str(r.get("version", "")),
                           str(r.get("state", "")).removeprefix("State."), str(r.get("reason", ""))) for r in rows]

    def _http_index(self) -> list[dict[str, Any]]:
        """``POST /v2/repository/index`` with the body ``{}``: tritonclient sends an empty body, which
        Triton takes but the KServe v2 servers that require the request object (MLServer) refuse."""
        conn_class = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
        conn = conn_class(self._host, self._port, timeout=CONNECT_TIMEOUT)
        try:
            conn.request("POST", "/v2/repository/index", body=b"{}", headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
        except OSError as exc:
            raise TritonUnavailable(f"Triton at {self.url} is unreachable (repository index): {exc}") from exc
        finally:
            conn.close()
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        if response.status != 200 or not isinstance(answer, list):
            message = answer.get("error") if isinstance(answer, dict) else None
            raise TritonRefused(f"repository index: {response.status} {message or body[:200]!r}")
        return answer

    def load(self, name: str) -> None:
        self._call(f"load {name}", "load_model", name)

    def unload(self, name: str) -> None:
        self._call(f"unload {name}", "unload_model", name)

    def config(self, name: str) -> dict[str, Any]:
        if self.grpc:
            answer = self._call(f"config {name}", "get_model_config", name, as_json=True)
            config: dict[str, Any] = answer.get("config", {})
            return config
        answer = self._call(f"config {name}", "get_model_config", name)
        return answer if isinstance(answer, dict) else json.loads(answer)

    def model_ready(self, name: str, version: int | None = None) -> bool:
        return bool(self._call(f"ready {name}", "is_model_ready", name, "" if version is None else str(version)))
