"""A thread that samples a process's resident set size (VmRSS) at a fixed interval."""

from __future__ import annotations

import threading
import time

from bench.process import proc_status_kib


class RssSampler:
    """``with RssSampler(pid) as s: ...`` then ``s.peak_kib``; also keeps every sample.

    Several pids (nginx's master and workers) are sampled together and summed.
    """

    def __init__(self, *pids: int, interval: float = 0.05) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pids[0]}", daemon=True)

    @property
    def peak_kib(self) -> int:
        return max((kib for _, kib in self.samples), default=0)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            each = [proc_status_kib(pid, "VmRSS") for pid in self.pids]
            if all(kib is None for kib in each):
                return
            self.samples.append((time.monotonic() - started, sum(kib or 0 for kib in each)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
