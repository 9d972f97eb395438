"""The Triton emulator's model repository manager: it reads a real repository directory from disk
the way Triton's core does, in explicit model control mode.

Written from triton-inference-server/core (snapshot 73aad7c3, 2026-06-09):

- ``src/model_repository_manager/model_lifecycle.cc`` ``VersionsToLoad``: version directories are
  the subdirectories whose names ``std::stoll`` reads as a number (so ``.x`` and ``tmp`` are
  ignored, but ``1.tmp`` would be version 1), minus those with a leading ``0`` and the
  ``warmup``/``initial_state``/``configs`` folders; the version policy picks among them (default
  ``latest { num_versions: 1 }``); none left is "at least one version must be available under the
  version policy of model '<m>'".
- ``model_repository_manager.cc`` ``RepositoryIndex``: every subdirectory of the repository is a
  model, hidden ones included, listed with the states of its versions; a load of a name that is
  not a directory is "failed to load '<m>', failed to poll from model repository"; a failed
  version is reported as "load failed for model '<m>': version <v> is at UNAVAILABLE state:
  <reason>;" while the versions loaded before keep serving.
- ``src/constants.h``: the default model file of each platform/backend (``model.onnx``,
  ``model.pt``, ``model.plan``, ``model.py``, ...).

A version is "loaded" by reading every file below its directory (sha256 kept in ``loaded``), and
fails like a backend would when its model file is missing or empty: that is how a test sees a
half-written version.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

DEFAULT_FILES = {"onnxruntime": "model.onnx", "onnxruntime_onnx": "model.onnx", "pytorch": "model.pt",
                 "pytorch_libtorch": "model.pt", "tensorrt": "model.plan", "tensorrt_plan": "model.plan",
                 "python": "model.py", "openvino": "model.xml", "tensorflow_savedmodel": "model.savedmodel",
                 "tensorflow_graphdef": "model.graphdef"}
SKIP_DIRS = ("warmup", "initial_state", "configs")
_STOLL = re.compile(r"\s*[+-]?\d+")


class EmulatorError(Exception):
    def __init__(self, message: str, code: str = "INVALID_ARG") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Version:
    state: str
    reason: str = ""
    loaded: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of the bytes read when the version was loaded."""


def stoll(name: str) -> int | None:
    """``std::stoll``: a leading number, or None where it throws ``invalid_argument``."""
    match = _STOLL.match(name)
    return int(match.group(0)) if match else None


class TritonCore:
    def __init__(self, repository: Path) -> None:
        self.repository = repository
        self.models: dict[str, dict[int, Version]] = {}
        self.configs: dict[str, model_config_pb2.ModelConfig] = {}
        self.calls: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    # -- the repository API ------------------------------------------------------------------------

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        names = sorted(p.name for p in self.repository.iterdir() if p.is_dir()) if self.repository.is_dir() else []
        rows: list[dict[str, str]] = []
        for name in sorted(set(names) | set(self.models)):
            versions = self.models.get(name)
            if not versions:
                if not ready_only and name in names:
                    rows.append({"name": name})
                continue
            for number, version in sorted(versions.items()):
                if not ready_only or version.state == "READY":
                    rows.append({"name": name, "version": str(number), "state": version.state,
                                 "reason": version.reason})
        return rows

    def load(self, name: str, config_json: str | None = None) -> None:
        self._record("load", name)
        folder = self.repository / name
        if not folder.is_dir():
            raise EmulatorError(f"failed to load '{name}', failed to poll from model repository", "INTERNAL")
        config = self._config(name, folder, config_json)
        wanted = self._versions_to_load(folder, config)
        if not wanted:
            raise EmulatorError("at least one version must be available under the version policy of model "
                                f"'{name}'")
        versions = self.models.setdefault(name, {})
        failures = []
        loaded: dict[int, Version] = {}
        for number in sorted(wanted):
            try:
                loaded[number] = Version("READY", "", self._read_version(folder / str(number), config))
            except EmulatorError as exc:
                failures.append((number, str(exc)))
        with self.changed:
            for number, reason in failures:
                if versions.get(number, Version("")).state != "READY":
                    versions[number] = Version("UNAVAILABLE", reason)
            if not failures:
                for number, version in versions.items():
                    if number not in wanted and version.state == "READY":
                        versions[number] = Version("UNAVAILABLE", "unloaded")
            versions.update(loaded)
            self.configs[name] = config
            self.changed.notify_all()
        if failures:
            reasons = "".join(f"version {n} is at UNAVAILABLE state: {r};" for n, r in failures)
            raise EmulatorError(f"load failed for model '{name}': {reasons}\n")

    def unload(self, name: str) -> None:
        self._record("unload", name)
        with self.changed:
            for number, version in self.models.get(name, {}).items():
                if version.state == "READY":
                    self.models[name][number] = Version("UNAVAILABLE", "unloaded")
            self.changed.notify_all()

    def ready_versions(self, name: str) -> list[int]:
        return sorted(n for n, v in self.models.get(name, {}).items() if v.state == "READY")

    def model_ready(self, name: str, version: str = "") -> bool:
        ready = self.ready_versions(name)
        return bool(ready) if not version else stoll(version) in ready

    def config(self, name: str) -> model_config_pb2.ModelConfig:
        if not self.ready_versions(name):
            raise EmulatorError(f"Request for unknown model: '{name}' is not found", "NOT_FOUND")
        return self.configs[name]

    def config_json(self, name: str) -> str:
        return json.dumps(json_format.MessageToDict(self.config(name), preserving_proto_field_name=True))

    # -- reading the repository like Triton ----------------------------------------------------------

    def _record(self, verb: str, name: str) -> None:
        with self.changed:
            self.calls.append((verb, name))

    def _config(self, name: str, folder: Path, config_json: str | None) -> model_config_pb2.ModelConfig:
        config = model_config_pb2.ModelConfig()
        try:
            if config_json is not None:
                json_format.Parse(config_json, config)
            else:
                text_format.Parse((folder / "config.pbtxt").read_text(), config)
        except FileNotFoundError as exc:
            raise EmulatorError(f"load failed for model '{name}': Invalid argument: no config.pbtxt in "
                                f"{folder}") from exc
        except (text_format.ParseError, json_format.ParseError) as exc:
            raise EmulatorError(f"load failed for model '{name}': Invalid argument: failed to read model "
                                f"configuration: {exc}") from exc
        if config.name and config.name != name:
            raise EmulatorError(f"load failed for model '{name}': Invalid argument: unexpected model name "
                                f"'{config.name}'")
        config.name = name
        return config

    @staticmethod
    def _versions_to_load(folder: Path, config: model_config_pb2.ModelConfig) -> set[int]:
        existing: set[int] = set()
        for sub in folder.iterdir():
            if not sub.is_dir() or sub.name in SKIP_DIRS or (len(sub.name) > 1 and sub.name[0] == "0"):
                continue
            number = stoll(sub.name)
            if number is not None:
                existing.add(number)
        policy = config.version_policy
        if policy.HasField("specific"):
            return {v for v in policy.specific.versions if v in existing}
        if policy.HasField("all"):
            return existing
        keep = policy.latest.num_versions if policy.HasField("latest") else 1
        return set(sorted(existing, reverse=True)[:keep])

    @staticmethod
    def _read_version(folder: Path, config: model_config_pb2.ModelConfig) -> dict[str, str]:
        kind = config.backend or config.platform
        model_file = config.default_model_filename or DEFAULT_FILES.get(kind)
        if model_file is not None:
            path = folder / model_file
            if not path.exists():
                raise EmulatorError(f"Internal: unable to find '{path}' for model '{config.name}'", "INTERNAL")
            if path.is_file() and path.stat().st_size == 0:
                raise EmulatorError(f"Internal: failed to load '{path}': empty model file", "INTERNAL")
        try:
            return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(folder.rglob("*")) if p.is_file()}
        except OSError as exc:
            raise EmulatorError(f"Internal: failed to read {folder}: {exc}", "INTERNAL") from exc
