"""py-spy on a running server (``--profile DIR``): where its CPU went while a scenario ran.

``with Profile(pid, out_dir, "herd-proxy"):`` records the process (all threads, native frames
off, 100 Hz) to ``herd-proxy.txt`` (collapsed stacks) and ``summary()`` names the functions that
were on the CPU most, by self time and by total time (a share of all samples). py-spy comes from the ``bench`` extra
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

RATE = 100
"""Samples per second; py-spy samples only threads that are running (not idle), so samples / (RATE x
seconds) is the share of the time the process was busy."""


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profile:
    def __init__(self, pid: int, out_dir: Path, name: str) -> None:
        binary = find_py_spy()
        if binary is None:
            raise RuntimeError("--profile needs py-spy: pip install -e '.[bench]' (or pip install py-spy)")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.output = out_dir / f"{name}.txt"
        self.argv = [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(self.output),
        ]
        self.popen: subprocess.Popen[bytes] | None = None
        self.started = self.seconds = 0.0

    def __enter__(self) -> Profile:
        self.started = time.monotonic()
        self.popen = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def summary(self, top: int = 8) -> str:
        """``self: f 31%, g 12%; total: h 80%, ...`` from the collapsed stacks (empty if none)."""
        try:
            lines = self.output.read_text().splitlines()
        except OSError:
            return ""
        own: collections.Counter[str] = collections.Counter()
        total: collections.Counter[str] = collections.Counter()
        samples = 0
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [f.split(" (")[0] for f in stack.split(";")[1:]]  # drop the thread frame
            samples += n
            if frames:
                own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
        if not samples:
            return ""

        def fmt(c: collections.Counter[str]) -> str:
            return ", ".join(f"{name} {n / samples:.0%}" for name, n in c.most_common(top))

        # Frames on nearly every stack (run_app, the loop's _run_once) say nothing; leave them out.
        inner = collections.Counter({k: v for k, v in total.items() if v < 0.85 * samples})
        busy = f" (the process was on the CPU {samples / RATE / self.seconds:.0%} of it)" if self.seconds else ""
        return (
            f"{self.seconds:.1f} s, {samples} samples{busy}; self: {fmt(own)}; "
            f"total (below the event loop): {fmt(inner)}"
        )
