"""``sync``: every model of a models file laid out in the repository, each version whole.

A version already laid out from the same upstream version (the HF commit, the S3 ETags) with its
files in place is left alone, so ``sync`` can run again and again (an init container, a cron job).
Models found in ``<repository>-disabled`` are skipped: ``enable`` brings them back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmanager_client.errors import ClientError
from modelmanager_client.node import NodeTier
from modelmanager_client.triton.materialize import Placed, Plan, lay_out, plan
from modelmanager_client.triton.models import Models, ModelSpec, Source
from modelmanager_client.triton.repository import CONFIG, Repository, RepositoryError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Synced:
    model: str
    version: int
    outcome: str
    """``laid out``, ``up to date``, ``disabled`` or ``failed: <why>``."""
    files: tuple[Placed, ...] = ()


@dataclass
class Syncer:
    models: Models
    repository: Repository
    host: str | None
    tier: NodeTier
    cpu: bool = False
    token: str | None = None
    report: Callable[[str], None] | None = None

    def config_bytes(self, name: str) -> bytes | None:
        path = self.models.config_file(name, self.cpu)
        return None if path is None else path.read_bytes()

    def sync(self, names: list[str] | None = None) -> list[Synced]:
        done: list[Synced] = []
        for name in names or sorted(self.models.specs):
            spec = self.models.spec(name)
            if (self.repository.disabled / name).is_dir():
                done.append(Synced(name, 0, "disabled"))
                self.say(f"{name}: disabled (in {self.repository.disabled}): skipped")
                continue
            if spec.watch and (newest := self.watched_newest(name)) is not None:
                done.append(Synced(name, newest, "up to date"))
                self.say(f"{name}/{newest}: watched: left to `watch` (newest version {newest})")
                continue
            for version, source in sorted(spec.sources().items()):
                try:
                    done.append(self.sync_version(name, spec, version, source))
                except (ClientError, RepositoryError, OSError) as exc:  # the other models still get laid out
                    done.append(Synced(name, version, f"failed: {exc}"))
                    self.say(f"{name}/{version}: FAILED: {exc}")
        return done

    def sync_version(self, name: str, spec: ModelSpec, version: int, source: Source,
                     listed: Plan | None = None) -> Synced:
        wanted = listed or plan(source.info(self.host, self.token), spec)
        record = self.repository.state(name).get("versions", {}).get(str(version))
        if (record is not None and wanted.version and record.get("upstream") == wanted.version
                and self._intact(name, version, record)):
            config = self.config_bytes(name)
            current = self.repository.model(name) / CONFIG
            if config is not None and (not current.is_file() or current.read_bytes() != config):
                self.repository.write_config(name, config)
                self.say(f"{name}: config.pbtxt updated")
            self.say(f"{name}/{version}: up to date ({_short(wanted.version)})")
            return Synced(name, version, "up to date")
        placed: list[Placed] = []
        started = time.monotonic()
        self.repository.install_version(name, version, lambda folder: placed.extend(lay_out(wanted, folder, self.tier)),
                                        self.config_bytes(name))
        upstream = self.record(name, version, source, wanted, placed)
        ways = ", ".join(sorted({p.how for p in placed}))
        self.say(f"{name}/{version}: laid out {len(placed)} files, {sum(p.size for p in placed):,} bytes "
                  f"({ways}) from {source.url} at {_short(upstream)} in {time.monotonic() - started:.1f}s")
        return Synced(name, version, "laid out", tuple(placed))

    def watched_newest(self, name: str) -> int | None:
        """The newest intact version of a watched model: ``watch`` moves it, ``sync`` leaves it."""
        versions = self.repository.versions(name)
        records = self.repository.state(name).get("versions", {})
        if not versions or str(versions[-1]) not in records:
            return None
        return versions[-1] if self._intact(name, versions[-1], records[str(versions[-1])]) else None

    def record(self, name: str, version: int, source: Source, wanted: Plan, placed: list[Placed]) -> str:
        """Remember what the version was laid out from; returns the upstream version recorded."""
        state = self.repository.state(name)
        versions: dict[str, Any] = state.setdefault("versions", {})
        upstream = wanted.version or (f"blake3:{placed[0].digest}" if len(placed) == 1 else "")
        versions[str(version)] = {"source": source.url, "upstream": upstream, "laid_out_at": time.time(),
                                  "files": {p.path: {"size": p.size, "blake3": p.digest} for p in placed}}
        self.repository.save_state(name, state)
        return upstream

    def forget(self, name: str, version: int) -> None:
        state = self.repository.state(name)
        state.get("versions", {}).pop(str(version), None)
        self.repository.save_state(name, state)

    def _intact(self, name: str, version: int, record: dict[str, Any]) -> bool:
        folder = self.repository.model(name) / str(version)
        files = record.get("files", {})
        try:
            return bool(files) and all((folder / path).stat().st_size == meta.get("size")
                                       for path, meta in files.items())
        except OSError:
            return False

    def say(self, line: str) -> None:
        log.info(line)
        if self.report is not None:
            self.report(line)


def _short(version: str) -> str:
    return version if len(version) <= 16 else version[:12] + "…"


def copy_configs(models: Models, repository: Repository, cpu: bool, names: list[str] | None = None) -> list[Path]:
    """Each model's config file (its CPU variant with ``cpu``) as ``config.pbtxt``, where the model is
    (enabled or disabled)."""
    written = []
    for name in names or sorted(models.specs):
        config = models.config_file(name, cpu)
        if config is None:
            continue
        for root in (repository.root, repository.disabled):
            if (root / name).is_dir():
                written.append(repository.write_config(name, config.read_bytes(), root))
    return written

