"""A Triton model repository on disk, and the only module that writes into it::

    <repository>/                         --model-repository of Triton
      <model>/
        config.pbtxt                      replaced atomically (temp file, fsync, rename)
        .modelmanager.json                what each version was laid out from (source, version, files)
        <version>/<files>                 appears whole: built in a staging directory, then renamed
        .modelmanager-staging-<v>.<host>.<pid>.<rand>/  a version being built: Triton ignores it
    <repository>-disabled/<model>/        ``disable`` moves a model here, ``enable`` moves it back
    <repository>/.modelmanager-staging-<model>.<host>.<pid>.<rand>/  a new model being built

Triton reads version directories with ``std::stoll`` and ignores names that do not start with a
number or that start with ``0`` (core ``src/model_repository_manager/model_lifecycle.cc``,
``VersionsToLoad``), so a staging name starting with ``.`` is never taken for a version. A model
directory is listed by Triton whatever its name (hidden ones too), so a new model's staging
directory exists in the repository only while it is built.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmanager_client.triton.models import VERSION

STAGING = ".modelmanager-staging-"
STATE = ".modelmanager.json"
STALE_AFTER = 24 * 3600.0
"""Seconds after which any staging directory counts as abandoned (its pod is gone)."""
CONFIG = "config.pbtxt"
_RENAME_EXCHANGE = 2


class RepositoryError(Exception):
    """A model is missing, or a move or a write in the repository failed."""


def fsync_tree(root: Path) -> None:
    """Every file and directory below ``root`` (and ``root``) on stable storage."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


@dataclass(frozen=True, slots=True)
class Repository:
    root: Path

    @property
    def disabled(self) -> Path:
        return self.root.with_name(self.root.name + "-disabled")

    def model(self, name: str) -> Path:
        return self.root / name

    def models(self) -> list[str]:
        """The model directories Triton would list (staging directories excepted)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(STAGING))

    def disabled_models(self) -> list[str]:
        if not self.disabled.is_dir():
            return []
        return sorted(p.name for p in self.disabled.iterdir() if p.is_dir() and not p.name.startswith("."))

    def versions(self, name: str, root: Path | None = None) -> list[int]:
        """The version directories of a model that Triton reads as versions, ascending."""
        folder = (root or self.root) / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and VERSION.fullmatch(p.name))

    # -- state: what each version was laid out from ---------------------------------------------

    def state(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.model(name) / STATE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_state(self, name: str, state: dict[str, Any]) -> None:
        write_atomic(self.model(name) / STATE, json.dumps(state, indent=1, sort_keys=True).encode())

    # -- laying out ------------------------------------------------------------------------------

    def install_version(self, name: str, version: int, build: Callable[[Path], None],
                        config: bytes | None) -> None:
        """Build a version in a staging directory and rename it into place, whole.

        ``build`` fills the directory it is given. For a new model, the whole model directory
        (``config.pbtxt`` first) is staged and renamed in. An existing version is swapped with the
        new one in one step where the kernel can (``RENAME_EXCHANGE``), so a reader sees the old or
        the new directory, never neither.
        """
        model = self.model(name)
        self.root.mkdir(parents=True, exist_ok=True)
        if not model.is_dir():
            with self._staging(self.root, name) as staged:
                if config is not None:
                    (staged / CONFIG).write_bytes(config)
                build(staged / str(version))
                fsync_tree(staged)
                try:
                    os.rename(staged, model)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    _swap_in(staged / str(version), model / str(version))  # another sync made the model
            fsync_dir(self.root)
            return
        if config is not None:
            self.write_config(name, config)
        with self._staging(model, str(version)) as staged:
            build(staged)
            fsync_tree(staged)
            _swap_in(staged, model / str(version))
        fsync_dir(model)

    @contextlib.contextmanager
    def _staging(self, parent: Path, what: str) -> Iterator[Path]:
        staged = parent / staging_name(what)
        staged.mkdir()
        try:
            yield staged
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)

    def remove_version(self, name: str, version: int) -> None:
        """Take a version out whole: renamed to a staging name first, then deleted."""
        target = self.model(name) / str(version)
        if not target.is_dir():
            return
        doomed = self.model(name) / staging_name(f"removed-{version}")
        os.rename(target, doomed)
        shutil.rmtree(doomed)

    def write_config(self, name: str, config: bytes, root: Path | None = None) -> Path:
        target = (root or self.root) / name / CONFIG
        write_atomic(target, config)
        return target

    def clean_staging(self, now: float | None = None) -> int:
        """Remove staging directories a crashed sync left behind; returns how many.

        Several syncs may share a repository (pods of one Deployment on a shared volume), so only
        directories of a dead process on this host, or older than ``STALE_AFTER``, are removed.
        """
        removed = 0
        if not self.root.is_dir():
            return 0
        now = time.time() if now is None else now
        for parent in [self.root, *(p for p in self.root.iterdir() if p.is_dir())]:
            for leftover in parent.glob(f"{STAGING}*"):
                if _abandoned(leftover, now):
                    shutil.rmtree(leftover, ignore_errors=True)
                    removed += 1
        return removed

    # -- enable / disable ------------------------------------------------------------------------

    def move(self, name: str, enable: bool) -> Path:
        source, target = (self.disabled, self.root) if enable else (self.root, self.disabled)
        if not (source / name).is_dir():
            where = "disabled models" if enable else "repository"
            raise RepositoryError(f"no model {name!r} in the {where} ({source})")
        if (target / name).exists():
            raise RepositoryError(f"{target / name} exists already: remove one of the two copies")
        target.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(source / name, target / name)
        except OSError as exc:
            raise RepositoryError(f"cannot move {source / name} to {target}: {exc.strerror or exc} "
                                  f"(both must be on one filesystem)") from exc
        fsync_dir(source)
        fsync_dir(target)
        return target / name


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "localhost"


def staging_name(what: str) -> str:
    """``.modelmanager-staging-<what>.<host>.<pid>.<random>``: who is building it, for ``clean_staging``."""
    return f"{STAGING}{what}.{_host()}.{os.getpid()}.{os.urandom(4).hex()}"


def _abandoned(path: Path, now: float) -> bool:
    try:
        _, host, pid, _ = path.name.rsplit(".", 3)
        age = now - path.stat().st_mtime
    except (ValueError, OSError):
        return True
    if age > STALE_AFTER:
        return True
    if host != _host() or not pid.isdigit():
        return False  # another pod's, recent: it may still be building
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _swap_in(built: Path, target: Path) -> None:
    """``built`` becomes ``target``: a rename, or an exchange with an existing version (whose old
    contents are then deleted); several syncs of one repository may race here (pods of one Deployment)."""
    try:
        os.rename(built, target)  # also replaces an empty directory
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if exchange(built, target):
        shutil.rmtree(built)  # now the old version
        return
    shutil.rmtree(target, ignore_errors=True)
    os.rename(built, target)


def write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)
