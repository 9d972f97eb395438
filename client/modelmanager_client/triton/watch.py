"""``watch``: zero-downtime updates of the models marked ``watch = true``.

Every ``interval`` seconds, for each watched model:

1. pre-warm through the proxy: a prefetch job of the source (its patterns) and wait for it, so
   every file of the version upstream names now is in the proxy's cache;
2. if that version differs from the newest laid out, lay it out as the next version number
   (a staging directory renamed in whole: Triton never sees it half-written), with its files as
   hard links of the blobs just cached;
3. load the model (explicit model control): Triton loads the new version and, under its default
   version policy (``latest { num_versions: 1 }``), keeps serving the old one until the new one is
   ready, then unloads it; the new version must report ready, else it is removed again and the old
   one keeps serving (the error is printed);
4. after ``grace`` seconds, remove the older version directories and load again, so a policy that
   serves several versions drops them too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelmanager_client.errors import ClientError
from modelmanager_client.triton.control import prefetch
from modelmanager_client.triton.materialize import plan
from modelmanager_client.triton.server import Triton, TritonError
from modelmanager_client.triton.sync import Syncer

log = logging.getLogger(__name__)


@dataclass
class Retired:
    model: str
    versions: list[int]
    due: float


@dataclass
class Watcher:
    syncer: Syncer
    triton: Triton | None
    """None: lay out only (Triton polls the repository itself)."""
    admin_token: str | None
    grace: float = 300.0
    clock: Callable[[], float] = time.monotonic
    retired: list[Retired] = field(default_factory=list)

    def watched(self) -> list[str]:
        return sorted(name for name, spec in self.syncer.models.specs.items() if spec.watch)

    def step(self) -> None:
        """One round: check every watched model, then retire what is due."""
        for name in self.watched():
            try:
                self.check(name)
            except (ClientError, TritonError, OSError) as exc:
                self.syncer.say(f"{name}: watch check failed: {exc}")
        try:
            self.retire_due()
        except (TritonError, OSError) as exc:
            self.syncer.say(f"retiring old versions failed: {exc}")

    def check(self, name: str) -> int | None:
        """Lay out and load a new version of ``name`` if upstream moved; returns its number."""
        spec = self.syncer.models.spec(name)
        repository = self.syncer.repository
        if (repository.disabled / name).is_dir():
            return None
        ((_, source),) = spec.sources().items()
        job = prefetch(self.syncer.host, self.admin_token, source.url, spec.files, spec.exclude,
                       source.info(self.syncer.host, self.syncer.token).bearer)
        pinned = source.at(job.get("version"))
        wanted = plan(pinned.info(self.syncer.host, self.syncer.token), spec)
        versions = repository.versions(name)
        records = repository.state(name).get("versions", {})
        newest = versions[-1] if versions else None
        if newest is not None and wanted.version and records.get(str(newest), {}).get("upstream") == wanted.version:
            return None
        number = max([*versions, spec.version - 1]) + 1
        self.syncer.sync_version(name, spec, number, pinned, wanted)
        if self.triton is not None:
            try:
                self.triton.load(name)
                if not self.triton.model_ready(name, number):
                    raise TritonError(f"{name} version {number} is not ready after load")
            except TritonError:
                repository.remove_version(name, number)
                self.syncer.forget(name, number)
                raise
        self.syncer.say(f"{name}: version {number} ready; retiring {versions or 'nothing'} in {self.grace:.0f}s")
        if versions:
            self.retired.append(Retired(name, versions, self.clock() + self.grace))
        return number

    def retire_due(self) -> None:
        now = self.clock()
        keep = []
        for item in self.retired:
            if item.due > now:
                keep.append(item)
                continue
            for version in item.versions:
                self.syncer.repository.remove_version(item.model, version)
                self.syncer.forget(item.model, version)
            if self.triton is not None:
                self.triton.load(item.model)
            self.syncer.say(f"{item.model}: removed versions {item.versions}")
        self.retired = keep

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step()
            stop.wait(interval)
        log.info("watch stopped")
