"""A byte counter drawn as one line on a terminal (stderr), nothing when stderr is not a TTY."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.interval = interval
        self.bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw, daemon=True, name="mm-progress")
        self._start = time.monotonic()

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._line()
            self.stream.write("\n")

    def _draw(self) -> None:
        while not self._stop.wait(self.interval):
            self._line()

    def _line(self) -> None:
        seconds = max(time.monotonic() - self._start, 1e-6)
        mb = self.bytes / 1e6
        self.stream.write(f"\r{self.label}: {mb:,.1f} MB over the network, {mb / seconds:,.1f} MB/s   ")
        self.stream.flush()
