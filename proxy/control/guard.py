"""The door of the control API and ``/v1/status``: who may call them and what a call may carry.

- **Token.** ``Authorization: Bearer <token>`` exactly (the scheme in any case, one space, the
  token in printable ASCII), compared in constant time. A bare token, another scheme or a token
  that is not ASCII is ``401``. With ``--insecure-no-auth`` no token is asked for.
- **Browsers.** A request the browser marks as coming from another site (``Sec-Fetch-Site:
  cross-site`` or ``same-site``), or whose ``Origin`` is not the proxy's own (its ``Host``), is
  ``403``: a web page can neither call the API nor read its answers. Without a token, the ``Host``
  must also be an IP address, ``localhost`` or a name the operator configured (the advertise URL's
  host), which stops DNS rebinding (a page whose own name resolves to the proxy).
- **Bodies.** ``application/json`` only (``415``; a ``text/plain`` form post never gets in), at
  most ``MAX_BODY`` bytes (``413``), nested at most ``MAX_DEPTH`` deep, no ``NaN``/``Infinity``,
  an object at the top (``400``).
- **Numbers.** ``query_number`` accepts only finite values within the bounds the caller names
  (``400`` otherwise); numbers in bodies are bounded by their models (``proxy.control.schema``).

Errors are JSON ``{"error": message}``, as every answer of the control API.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from yarl import URL

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_DEPTH = 8
JSON = "application/json"
_BROWSER_OTHER_SITE = frozenset({"cross-site", "same-site"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    """A control request refused at the door: rendered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response({"error": self.message}, status=self.status, headers=self.headers)


class Guard:
    def __init__(self, token: str | None, names: Iterable[str] = ()) -> None:
        self._token = token.encode("ascii") if token is not None else None
        self._names = frozenset(n.lower() for n in names if n)
        """Host names (besides IP addresses and localhost) accepted without a token."""

    @property
    def open(self) -> bool:
        return self._token is None

    def check(self, request: web.Request) -> None:
        """Raise Refused unless ``request`` may reach a control handler."""
        _check_browser(request)
        if self._token is None:
            self._check_host(request)
            return
        given = bearer_token(request.headers.get("Authorization"))
        if given is None or not hmac.compare_digest(given.encode("ascii"), self._token):
            raise Refused(401, "this endpoint needs Authorization: Bearer <admin token>",
                          {"WWW-Authenticate": 'Bearer realm="modelmanager"'})

    def wrap(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                self.check(request)
            except Refused as exc:
                return exc.response()
            return await handler(request)

        return guarded

    def _check_host(self, request: web.Request) -> None:
        host = _host_name(request.headers.get("Host", ""))
        if host is None or not (host == "localhost" or host in self._names or _is_ip(host)):
            raise Refused(403, "without an admin token the control API answers only to IP addresses, "
                          "localhost and the advertise URL's host (DNS rebinding)")


def bearer_token(header: str | None) -> str | None:
    """The token of ``Bearer <token>``; None for anything else (a bare token included)."""
    if header is None:
        return None
    scheme, sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not sep or not token or not token.isascii() or not token.isprintable():
        return None
    if token != token.strip() or " " in token:
        return None
    return token


def bearer_matches(header: str | None, secret: str | None) -> bool:
    """Whether ``header`` is ``Bearer <secret>`` (constant time); never with no secret set."""
    given = bearer_token(header)
    return (secret is not None and given is not None
            and hmac.compare_digest(given.encode("ascii"), secret.encode("ascii")))


def _check_browser(request: web.Request) -> None:
    if request.headers.get("Sec-Fetch-Site", "").lower() in _BROWSER_OTHER_SITE:
        raise Refused(403, "cross-site requests are refused")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    try:
        authority = URL(origin).raw_authority.lower()
    except ValueError:
        authority = ""
    if not authority or authority != request.headers.get("Host", "").lower():
        raise Refused(403, "requests from another origin are refused")


def _host_name(host: str) -> str | None:
    """The name or address of a Host header without its port; None when it is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else None
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, within the limits above."""
    if request.content_type != JSON:
        raise Refused(415, f"the body must be {JSON}")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > MAX_BODY:
            raise Refused(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "the body is not UTF-8") from exc
    if nesting(text) > MAX_DEPTH:
        raise Refused(400, f"the body is nested deeper than {MAX_DEPTH}")
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise Refused(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text`` (strings skipped); stops counting past MAX_DEPTH."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def query_number(request: web.Request, name: str, *, low: float, high: float, default: float) -> float:
    """The query parameter ``name`` as a finite number within [low, high]; ``default`` when absent."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError as exc:
        raise Refused(400, f"{name} must be a number") from exc
    if not math.isfinite(value) or not low <= value <= high:
        raise Refused(400, f"{name} must be a number from {low:g} to {high:g}")
    return value
