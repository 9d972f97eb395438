"""A thread that samples a process's resident set size (VmRSS) at a fixed interval."""

from __future__ import annotations

import threading
import time

from bench.process import proc_status_kib


class RssSampler:
    """``with RssSampler(pid) as s: ...`` then ``s.peak_kib``; also keeps every sample."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    @property
    def peak_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            kib = proc_status_kib(self.pid, "VmRSS")
            if kib is None:
                return
            self.samples.append((time.monotonic() - started, kib))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
