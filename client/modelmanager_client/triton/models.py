"""The models file: which models a Triton repository holds, where each one's files come from, and
which version numbers they are laid out as. TOML, validated by pydantic; every error names the
file, the line and the key (``models.toml:7: models.bert.files: Input should be a valid list``).

    [models.resnet50]
    source = "hf://org/resnet50-onnx@main"   # or s3://bucket/prefix, gs://bucket/prefix,
                                             # az://account/container/prefix, https://host/model.onnx
    files = ["model.onnx"]                   # patterns below the source (default: every file)
    exclude = ["*.md"]
    rename = { "onnx/model.onnx" = "model.onnx" }   # path in the source -> path in the version dir
    version = 1                              # the version directory (default 1)
    config = "configs/resnet50/config.pbtxt"        # relative to this file
    cpu_config = "configs/resnet50/config-cpu.pbtxt" # used with --cpu
    watch = true                             # lay out new upstream versions as they appear

    [models.bert.versions]                   # several versions, each from its own source
    1 = "hf://org/bert@v1.0"
    2 = "hf://org/bert@v2.0"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from modelmanager_client.info import DownloadInfo, Provider

MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
"""A model directory name: never hidden (staging directories are), never a path."""
VERSION = re.compile(r"[1-9][0-9]{0,17}")
"""A version directory as Triton reads it: digits without a leading zero (it ignores ``01``)."""


class ModelsFileError(ValueError):
    """The models file cannot be read or is invalid; the message names the line and the key."""


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed source URL."""

    url: str
    provider: Provider
    repo: str
    """HF: ``org/name``; S3, GCS: ``bucket/prefix``; Azure: ``account/container/prefix``; HTTP: the URL."""
    revision: str

    @classmethod
    def parse(cls, url: str) -> Source:
        parts = urlsplit(url)
        if parts.scheme == "hf":
            repo, _, revision = (parts.netloc + parts.path).partition("@")
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise ValueError(f"hf:// source must be hf://org/name[@revision]: {url!r}")
            return cls(url, Provider.HF, repo, revision or "main")
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ValueError(f"s3:// source must be s3://bucket/prefix: {url!r}")
            return cls(url, Provider.S3, f"{parts.netloc}{parts.path}".rstrip("/"), "")
        if parts.scheme == "gs":
            if not parts.netloc:
                raise ValueError(f"gs:// source must be gs://bucket/prefix: {url!r}")
            return cls(url, Provider.GCS, f"{parts.netloc}{parts.path}".rstrip("/"), "")
        if parts.scheme == "az":
            if not parts.netloc or not parts.path.strip("/"):
                raise ValueError(f"az:// source must be az://account/container/prefix: {url!r}")
            return cls(url, Provider.AZURE, f"{parts.netloc}{parts.path}".rstrip("/"), "")
        if parts.scheme in ("http", "https") and parts.netloc:
            if not parts.path.strip("/"):
                raise ValueError(f"an HTTP source names one file: {url!r}")
            return cls(url, Provider.HTTP, url, "")
        raise ValueError("source must be hf://org/name[@rev], s3://bucket/prefix, gs://bucket/prefix, "
                         f"az://account/container/prefix or https://host/file: {url!r}")

    def at(self, revision: str | None) -> Source:
        """The same source pinned to ``revision`` (HF only; others have no revision)."""
        if self.provider is not Provider.HF or not revision:
            return self
        return Source(f"hf://{self.repo}@{revision}", self.provider, self.repo, revision)

    def info(self, host: str | None, token: str | None = None) -> DownloadInfo:
        return DownloadInfo(self.repo, None, self.revision or "main", "model", self.provider, host, token)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = None
    version: StrictInt = Field(1, ge=1, le=10**18 - 1)
    versions: dict[str, str] | None = None
    files: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    exclude: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    config: Path | None = None
    cpu_config: Path | None = None
    watch: StrictBool = False

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None:
            Source.parse(value)
        return value

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            if not value:
                raise ValueError("names no version")
            for number, url in value.items():
                if not VERSION.fullmatch(number):
                    raise ValueError(f"{number!r} is not a version number Triton loads (1, 2, ...; no leading 0)")
                Source.parse(url)
        return value

    @field_validator("rename")
    @classmethod
    def _rename(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value.values():
            path = PurePosixPath(target)
            if path.is_absolute() or ".." in path.parts or not path.parts:
                raise ValueError(f"refusing target path {target!r}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.source is None) == (self.versions is None):
            raise ValueError("give either source (and version) or a versions table")
        if self.watch and self.versions is not None:
            raise ValueError("watch needs one source (new versions are numbered after the highest)")
        return self

    def sources(self) -> dict[int, Source]:
        """Version number -> source."""
        if self.versions is not None:
            return {int(number): Source.parse(url) for number, url in self.versions.items()}
        assert self.source is not None
        return {self.version: Source.parse(self.source)}

    def target(self, path: str) -> str:
        """Where a source file goes inside the version directory."""
        return self.rename.get(path, path)


class ModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelSpec] = Field(min_length=1)

    @field_validator("models")
    @classmethod
    def _names(cls, value: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        for name in value:
            if not MODEL_NAME.fullmatch(name):
                raise ValueError(f"model name {name!r} must be letters, digits, '_', '-', '.' and not start with '.'")
        return value


@dataclass(frozen=True, slots=True)
class Models:
    """A loaded models file: the specs and the folder config paths are relative to."""

    path: Path
    specs: dict[str, ModelSpec]

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise ModelsFileError(f"{self.path}: no model {name!r} (it has {', '.join(sorted(self.specs))})") from None

    def config_file(self, name: str, cpu: bool) -> Path | None:
        spec = self.spec(name)
        chosen = (spec.cpu_config or spec.config) if cpu else spec.config
        return None if chosen is None else self.path.parent / chosen


def load(path: Path) -> Models:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelsFileError(f"{path}: cannot read the models file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ModelsFileError(f"{path}: not UTF-8 text: {exc}") from exc
    return parse(text, path)


def parse(text: str, path: Path) -> Models:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelsFileError(f"{path}: not valid TOML: {exc}") from exc
    try:
        document = ModelsFile.model_validate(data)
    except ValidationError as exc:
        raise ModelsFileError("\n".join(_describe(path, text, error) for error in exc.errors())) from exc
    return Models(path, dict(document.models))


def _describe(path: Path, text: str, error: Any) -> str:
    loc = tuple(str(part) for part in error["loc"])
    line = line_of(text, loc)
    where = f"{path}:{line}" if line is not None else str(path)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {'.'.join(loc) or '(top level)'}: {message}"


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=""")
_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_\-]+)""")


def _dotted(text: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _PART.finditer(text))


def line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """The line of the key (or table header) that names the longest prefix of ``loc``."""
    best_len, best_line = 0, None
    table: tuple[str, ...] = ()
    in_multiline = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        elif in_multiline:
            continue
        if header := _HEADER.match(line):
            table = _dotted(header.group(1))
            path = table
        elif key := _KEY.match(line):
            path = table + _dotted(key.group(1))
        else:
            continue
        if len(path) > best_len and loc[:len(path)] == path:
            best_len, best_line = len(path), number
        elif not path and best_line is None and not loc:
            best_line = number
    return best_line
