"""Structured logs: one JSON object per line, and one access line per request.

Every line passes ``proxy.observe.redact.redact`` (the message, string fields, tracebacks): presigned
signatures, tokens in query strings and URL passwords never reach the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from yarl import URL

from proxy.observe.redact import redact

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        data.update({k: _redacted(v) for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        return redact(base + ("  " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""))


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else redact(str(value)) if isinstance(value, Exception) else value


REPEAT_WINDOW = 10.0
"""Seconds during which the same event-loop error is logged once (then counted)."""


def limit_repeated_loop_errors(loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.monotonic) -> None:
    """Log each kind of event-loop error once per ``REPEAT_WINDOW``, with its traceback once.

    Under descriptor exhaustion asyncio reports every failed ``accept`` (thousands a second, each
    with a traceback); one line per window, with how many were suppressed, says the same.
    """
    last: dict[str, tuple[float, int]] = {}
    seen_traceback: set[str] = set()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        kind = f"{context.get('message', '')}|{type(exc).__name__ if exc else ''}"
        now = clock()
        when, suppressed = last.get(kind, (float("-inf"), 0))
        if now - when < REPEAT_WINDOW:
            last[kind] = (when, suppressed + 1)
            return
        last[kind] = (now, 0)
        detail = {"suppressed_since_last": suppressed, "error": repr(exc) if exc else None}
        first = kind not in seen_traceback
        seen_traceback.add(kind)
        logging.getLogger("modelmanager.loop").error(
            str(context.get("message", "event loop error")), extra=detail,
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None and first else None)

    loop.set_exception_handler(handle)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def body_bytes(response: StreamResponse) -> int:
    """Body bytes of the answer. ``body_length`` counts what went through aiohttp's writer, headers
    included, and nothing sent with sendfile: the declared length is the body when there is one
    (a response cut mid-body is aborted, and logged as such by the code that cut it)."""
    if response.content_length is not None:
        return response.content_length
    return max(0, response.body_length - _header_bytes(response))


def _header_bytes(response: StreamResponse) -> int:
    lines = [f"HTTP/1.1 {response.status} {response.reason}", *(f"{k}: {v}" for k, v in response.headers.items())]
    return sum(len(line) + 2 for line in lines) + 2


def target(request: BaseRequest) -> str | None:
    """The upstream URL a ``/v1/fetch`` asks for, without its query string and user info (they can
    carry signatures and tokens)."""
    url = request.query.get("url")
    if request.path != "/v1/fetch" or not url:
        return None
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "<unparsable>"


class AccessLogger(AbstractAccessLogger):
    """One line per request. The query string is left out: it can carry upstream URLs with tokens."""

    def log(self, request: BaseRequest, response: StreamResponse, duration: float) -> None:
        extra: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": body_bytes(response) if request.method != "HEAD" else 0,
            "duration_ms": round(duration * 1000, 2),
            "remote": request.remote,
            "cache": response.headers.get("X-Cache"),
            "at": round(time.time(), 3),
        }
        if (upstream := target(request)) is not None:
            extra["target"] = upstream
        self.logger.info("request", extra=extra)
