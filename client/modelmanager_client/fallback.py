"""``Fallback``: a source that moves to HTTP for good at its first failure, so a transport that
breaks mid-file (a sidecar killed, a network error) costs a retry of the ranges in flight, never
the download. Ranges already read are kept; the one that failed is read again, whole."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from modelmanager_client.ranged import RangeSource

log = logging.getLogger(__name__)


class Fallback:
    def __init__(self, primary: RangeSource, name: str, make_fallback: Callable[[], RangeSource]) -> None:
        self.primary = primary
        self.name = name
        self.size = primary.size
        self._make_fallback = make_fallback
        self._fallback: RangeSource | None = None
        self.failure: str | None = None
        self.primary_bytes = 0
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    def read_into(self, offset: int, view: memoryview) -> None:
        if self.failure is None:
            try:
                self.primary.read_into(offset, view)
            except Exception as exc:  # any failure of the primary: HTTP moves the rest
                self._fail(exc)
            else:
                with self._lock:
                    self.primary_bytes += len(view)
                return
        self._secondary().read_into(offset, view)

    def _fail(self, exc: Exception) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = f"{type(exc).__name__}: {exc}"
                log.warning("%s failed; HTTP reads the rest", self.name, extra={"error": self.failure})

    def _secondary(self) -> RangeSource:
        with self._lock:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            return self._fallback

    def outcome(self) -> str:
        """What moved the bytes, for ``--explain``."""
        if self.failure is None:
            return ""
        return (f"{self.name} failed after {self.primary_bytes:,} bytes ({self.failure}); "
                f"http read {self.size - self.primary_bytes:,} bytes")

    def close(self) -> None:
        self.primary.close()
        if self._fallback is not None:
            self._fallback.close()
