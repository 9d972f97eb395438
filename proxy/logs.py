"""Structured logs: one JSON object per line, and one access line per request.

Every line passes ``proxy.urls.redact`` (the message, string fields, tracebacks): presigned
signatures, tokens in query strings and URL passwords never reach the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from proxy.urls import redact

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


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLogger(AbstractAccessLogger):
    """One line per request. The query string is left out: it can carry upstream URLs with tokens."""

    def log(self, request: BaseRequest, response: StreamResponse, duration: float) -> None:
        self.logger.info("request", extra={
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(duration * 1000, 2),
            "remote": request.remote,
            "cache": response.headers.get("X-Cache"),
            "at": round(time.time(), 3),
        })
