"""``command-<name>``: operator-defined command templates as recipes.

The operator writes the templates in a JSON file named by ``MODELMANAGER_RECIPE_COMMANDS``; each
becomes the recipe ``command-<name>``. A template is an ``argv`` list (never a shell line) whose
elements may hold placeholders: ``{source0}``, ``{source1}``... (a source's staged path),
``{sources}`` (a whole element: every source's path), ``{output}``, ``{scratch}``, and the
template's own ``params``, which are a requester's only options, each checked against the
operator's regular expression. The command runs in the scratch directory with a minimal environment
(``PATH``, ``HOME`` and ``TMPDIR`` in the scratch directory, ``LANG=C.UTF-8``, plus the template's
``env``). Its target is the template's ``target`` keys, plus the first line that the optional
``target_command`` prints (e.g. a tool's ``--version``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from pathlib import Path
from string import Formatter
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from proxy.artifacts.recipe import BuildInput, Recipe, RecipeError
from proxy.artifacts.recipes.staging import stage

log = logging.getLogger(__name__)

COMMANDS_ENV = "MODELMANAGER_RECIPE_COMMANDS"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_RESERVED = re.compile(r"^(source\d+|sources|output|scratch)$")
_PARAM = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
_MAX_VALUE = 256


def fields(element: str) -> Iterator[tuple[str, str | None]]:
    """``(literal text, placeholder name or None)`` pieces of one argv element; ``{{`` is a brace.
    Raises ``ValueError`` for a conversion (``!r``), a format spec (``:x``) or a stray brace."""
    for literal, name, spec, conversion in Formatter().parse(element):
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}...}} in {element!r}: no conversions or format specs")
        yield literal, name


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(min_length=1, description="regular expression a value must match in full")
    default: str | None = None

    @model_validator(mode="after")
    def _default_matches(self) -> Param:
        try:
            compiled = re.compile(self.pattern)
        except re.error as error:
            raise ValueError(f"pattern {self.pattern!r}: {error}") from None
        if self.default is not None and not compiled.fullmatch(self.default):
            raise ValueError(f"default {self.default!r} does not match {self.pattern!r}")
        return self


class CommandTemplate(BaseModel):
    """One operator-defined command (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(min_length=1)
    stdout: bool = False  # the command's standard output is the artifact
    output: str = Field("output", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    params: dict[str, Param] = Field(default_factory=dict)
    target: dict[str, str] = Field(default_factory=dict)
    target_command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, Param]) -> dict[str, Param]:
        bad = [name for name in value if not _PARAM.match(name) or _RESERVED.match(name)]
        if bad:
            raise ValueError(f"parameter names {bad}: lowercase identifiers, not source<N>/sources/output/scratch")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) for name in value):
            raise ValueError("environment variable names are upper-case identifiers")
        return value

    @model_validator(mode="after")
    def _placeholders(self) -> CommandTemplate:
        if any("{" in part or "}" in part for part in self.argv[:1] + (self.target_command or [])[:1]):
            raise ValueError("the program (argv[0]) is fixed: no placeholders")
        names = [name for element in self.argv for _, name in fields(element) if name is not None]
        for name in names:
            if name not in self.params and not _RESERVED.match(name):
                raise ValueError(f"unknown placeholder {{{name}}}")
        if "sources" in names and "{sources}" not in self.argv:
            raise ValueError("{sources} must be a whole argv element")
        if not self.stdout and "output" not in names:
            raise ValueError("the template writes nowhere: use {output} or stdout: true")
        return self


def fingerprint(declared: Mapping[str, str], command_output: str | None) -> dict[str, str]:
    """The target of a command recipe from its inputs: the declared keys and the target command's answer."""
    found = dict(declared)
    if command_output is not None:
        found["command"] = next((line.strip() for line in command_output.splitlines() if line.strip()), "")
    return found


class CommandRecipe:
    """A recipe running one operator-defined command template."""

    def __init__(self, template_name: str, template: CommandTemplate) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", template_name):
            raise RecipeError(f"command template name {template_name!r}: lowercase letters, digits and -")
        self.name = f"command-{template_name}"
        self.template = template

    def environment(self, scratch: Path) -> dict[str, str]:
        return {"PATH": DEFAULT_PATH, "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8",
                **self.template.env}

    def program(self, argv0: str) -> str | None:
        return shutil.which(argv0, path=self.template.env.get("PATH", DEFAULT_PATH))

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(options, Mapping):
            raise RecipeError(f"{self.name}: options must be a JSON object")
        unknown = sorted(set(options) - set(self.template.params))
        if unknown:
            raise RecipeError(f"{self.name}: unknown options {unknown} (parameters: {sorted(self.template.params)})")
        canonical: dict[str, Any] = {}
        for name, param in sorted(self.template.params.items()):
            value = options.get(name, param.default)
            if value is None:
                raise RecipeError(f"{self.name}: option {name!r} is required")
            if not isinstance(value, str) or len(value) > _MAX_VALUE or "\0" in value:
                raise RecipeError(f"{self.name}: option {name!r} must be a string of at most {_MAX_VALUE} characters")
            if not re.fullmatch(param.pattern, value):
                raise RecipeError(f"{self.name}: option {name!r} must match {param.pattern!r}")
            canonical[name] = value
        return canonical

    def target(self) -> dict[str, str]:
        answer = None
        if (command := self.template.target_command) is not None:
            program = self.program(command[0])
            if program is None:
                raise RecipeError(f"{self.name}: target command {command[0]!r} not found")
            with TemporaryDirectory(prefix="mm-target-") as scratch:
                run = subprocess.run([program, *command[1:]], capture_output=True, text=True, timeout=60, cwd=scratch,
                                     env=self.environment(Path(scratch)), stdin=subprocess.DEVNULL, check=False)
            if run.returncode != 0:
                raise RecipeError(f"{self.name}: target command failed with exit status {run.returncode}")
            answer = run.stdout
        return fingerprint(self.template.target, answer)

    def available(self) -> str | None:
        for command in (self.template.argv, self.template.target_command or self.template.argv):
            if self.program(command[0]) is None:
                return f"{command[0]} is not installed (PATH {self.template.env.get('PATH', DEFAULT_PATH)})"
        return None

    def argv(self, job: BuildInput, sources: list[Path], output: Path) -> list[str]:
        """The template with its placeholders replaced (each element stays one argument)."""
        values = {"output": str(output), "scratch": str(job.scratch), **self.canonical_options(job.options),
                  **{f"source{i}": str(path) for i, path in enumerate(sources)}}
        argv: list[str] = []
        for element in self.template.argv:
            if element == "{sources}":
                argv.extend(map(str, sources))
                continue
            parts = []
            for literal, name in fields(element):
                if name is not None and name not in values:
                    raise RecipeError(f"{self.name}: {{{name}}} names a source this build does not have")
                parts.append(literal + (values[name] if name is not None else ""))
            argv.append("".join(parts))
        return argv

    def build(self, job: BuildInput) -> Path:
        program = self.program(self.template.argv[0])
        if program is None:
            raise RecipeError(f"{self.name}: {self.template.argv[0]} is not installed")
        output = job.scratch / self.template.output
        argv = self.argv(job, list(stage(job).values()), output)
        argv[0] = program
        seconds = job.deadline - time.monotonic()
        if seconds <= 0:
            raise RecipeError("the build's deadline passed before it started")
        with (job.log.open("ab") as log_file,
              output.open("xb") if self.template.stdout else nullcontext(log_file) as out):
            log_file.write(f"$ {' '.join(argv)}\n".encode())
            log_file.flush()
            try:
                run = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=log_file, cwd=job.scratch,
                                     env=self.environment(job.scratch), timeout=seconds, check=False)
            except subprocess.TimeoutExpired:
                raise RecipeError(f"{self.name}: the command ran past the build's deadline") from None
        if run.returncode != 0:
            raise RecipeError(f"{self.name}: the command failed with exit status {run.returncode}")
        if output.is_symlink() or not output.is_file():
            raise RecipeError(f"{self.name}: the command left no regular file at {{output}}")
        return output


def load_commands(path: Path) -> list[CommandRecipe]:
    """The recipes of a templates file: ``{"<name>": <template>, ...}``; ``RecipeError`` if invalid."""
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, dict):
            raise RecipeError(f"{path}: a JSON object of templates by name is expected")
        return [CommandRecipe(name, CommandTemplate.model_validate(body)) for name, body in document.items()]
    except (OSError, ValueError) as error:  # ValidationError and JSONDecodeError are ValueErrors
        raise RecipeError(f"{path}: {error}") from None


def _from_environment() -> list[CommandRecipe]:
    if not (path := os.environ.get(COMMANDS_ENV)):
        return []
    try:
        return load_commands(Path(path))
    except RecipeError as error:
        log.error("no command recipes: %s", error)
        return []


RECIPES = _from_environment()

if TYPE_CHECKING:
    _: type[Recipe] = CommandRecipe
