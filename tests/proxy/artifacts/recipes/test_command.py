"""``command-<name>``: operator templates run real programs with no shell and a minimal environment."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipe import RecipeError
from proxy.artifacts.recipes.command import CommandRecipe, CommandTemplate, fingerprint, load_commands
from tests.proxy.artifacts.recipes.child import build_in_child
from tests.proxy.artifacts.recipes.conftest import MakeJob

GZIP = CommandRecipe("gzip", CommandTemplate.model_validate({
    "argv": ["gzip", "-{level}", "-c", "-n", "{source0}"], "stdout": True, "output": "model.gz",
    "params": {"level": {"pattern": "[1-9]", "default": "6"}},
    "target_command": ["gzip", "--version"]}))


def recipe(name: str, **template: Any) -> CommandRecipe:
    return CommandRecipe(name, CommandTemplate.model_validate(template))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"model bytes " * 1000)
    return path


def test_gzip_in_a_child_process(source: Path, make_job: MakeJob) -> None:
    job = make_job([source], GZIP.canonical_options({"level": "9"}))
    output = build_in_child(GZIP, job)
    assert output == job.scratch / "model.gz"
    assert gzip.decompress(output.read_bytes()) == source.read_bytes()
    assert output.stat().st_size < source.stat().st_size
    assert f"gzip -9 -c -n {job.scratch / 'in' / 'weights.bin'}" in job.log.read_text()


def test_cp_to_the_output_placeholder(source: Path, make_job: MakeJob) -> None:
    cp = recipe("copy", argv=["cp", "{source0}", "{output}"], output="copy.bin")
    job = make_job([source], cp.canonical_options({}))
    assert build_in_child(cp, job).read_bytes() == source.read_bytes()


def test_sources_expand_to_one_argument_each_in_order(tmp_path: Path, make_job: MakeJob) -> None:
    parts = []
    for i, text in enumerate([b"first ", b"second ", b"third"]):
        parts.append(tmp_path / f"part{i}")
        parts[-1].write_bytes(text)
    cat = recipe("cat", argv=["cat", "{sources}"], stdout=True)
    job = make_job(parts, {}, names=["c", "b with space", "a"])
    assert cat.build(job).read_bytes() == b"first second third"


def test_parameters_are_arguments_never_shell(source: Path, make_job: MakeJob) -> None:
    echo = recipe("echo", argv=["printf", "%s|", "{word}", "x{word}y"], stdout=True,
                  params={"word": {"pattern": "[a-z ;$()]+"}})
    job = make_job([source], echo.canonical_options({"word": "a b; $(touch pwned)"}))
    assert echo.build(job).read_bytes() == b"a b; $(touch pwned)|xa b; $(touch pwned)y|"
    assert not (job.scratch / "pwned").exists()


def test_the_environment_is_minimal(source: Path, make_job: MakeJob, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_TEST_SECRET", "not for builds")
    env = recipe("env", argv=["env"], stdout=True, env={"OMP_NUM_THREADS": "2"})
    job = make_job([source], {})
    lines = sorted(build_in_child(env, job).read_text().splitlines())
    assert lines == sorted([f"HOME={job.scratch}", "LANG=C.UTF-8", "OMP_NUM_THREADS=2",
                            "PATH=/usr/local/bin:/usr/bin:/bin", f"TMPDIR={job.scratch}"])


def test_a_failing_command_is_a_recipe_error_with_its_stderr_in_the_log(source: Path, make_job: MakeJob) -> None:
    gunzip = recipe("gunzip", argv=["gzip", "-d", "-c", "{source0}"], stdout=True)
    job = make_job([source], {})
    with pytest.raises(RecipeError, match="exit status 1"):
        build_in_child(gunzip, job)
    assert "not in gzip format" in job.log.read_text()


def test_a_command_past_the_deadline_is_stopped(source: Path, make_job: MakeJob) -> None:
    sleep = recipe("sleep", argv=["sleep", "30"], stdout=True)
    with pytest.raises(RecipeError, match="ran past the build's deadline"):
        sleep.build(make_job([source], {}, seconds=0.5))


def test_a_missing_source_placeholder_is_refused(source: Path, make_job: MakeJob) -> None:
    two = recipe("two", argv=["cat", "{source0}", "{source1}"], stdout=True)
    with pytest.raises(RecipeError, match=r"\{source1\} names a source this build does not have"):
        two.build(make_job([source], {}))


def test_target_declared_keys_and_the_target_command() -> None:
    target = GZIP.target()
    assert target == GZIP.target()
    assert target["command"].startswith("gzip ")
    assert fingerprint({"tool": "1"}, "gzip 1.12\nCopyright\n") == {"tool": "1", "command": "gzip 1.12"}
    assert fingerprint({"tool": "1"}, "gzip 1.13\n") != fingerprint({"tool": "1"}, "gzip 1.12\n")
    assert fingerprint({"tool": "1"}, None) != fingerprint({"tool": "2"}, None)


def test_available_names_a_missing_program() -> None:
    assert GZIP.available() is None
    missing = recipe("missing", argv=["no-such-tool-mm", "{output}"])
    assert missing.available() == "no-such-tool-mm is not installed (PATH /usr/local/bin:/usr/bin:/bin)"


@pytest.mark.parametrize(("template", "problem"), [
    ({"argv": ["cat", "{nope}"], "stdout": True}, "unknown placeholder"),
    ({"argv": ["{source0}"], "stdout": True}, "argv\\[0\\]"),
    ({"argv": ["cat", "--in={sources}"], "stdout": True}, "whole argv element"),
    ({"argv": ["cat", "{source0}"]}, "writes nowhere"),
    ({"argv": ["cat", "{source0!r}"], "stdout": True}, "no conversions"),
    ({"argv": ["cat", "{source0:>9}"], "stdout": True}, "no conversions"),
    ({"argv": ["cat", "{source0"], "stdout": True}, "expected '}'"),
    ({"argv": ["cat", "{output}"], "params": {"output": {"pattern": "x"}}}, "parameter names"),
    ({"argv": ["cat", "{output}"], "params": {"level": {"pattern": "[1-9]", "default": "0"}}}, "does not match"),
    ({"argv": ["cat", "{output}"], "params": {"level": {"pattern": "[1-9"}}}, "pattern"),
    ({"argv": ["cat", "{output}"], "output": "../escape"}, "output"),
    ({"argv": ["cat", "{output}"], "env": {"lower": "x"}}, "upper-case"),
    ({"argv": [], "stdout": True}, "argv"),
    ({"argv": ["cat", "{output}"], "shell": True}, "shell"),
])
def test_invalid_templates_are_refused(tmp_path: Path, template: dict[str, Any], problem: str) -> None:
    path = tmp_path / "commands.json"
    path.write_text(json.dumps({"bad": template}))
    with pytest.raises(RecipeError, match=problem):
        load_commands(path)


def test_a_templates_file_makes_one_recipe_per_template(tmp_path: Path) -> None:
    path = tmp_path / "commands.json"
    path.write_text(json.dumps({"gzip": {"argv": ["gzip", "-c", "{source0}"], "stdout": True},
                                "copy": {"argv": ["cp", "{source0}", "{output}"], "target": {"kind": "copy"}}}))
    recipes = {r.name: r for r in load_commands(path)}
    assert sorted(recipes) == ["command-copy", "command-gzip"]
    assert recipes["command-copy"].target() == {"kind": "copy"}
    with pytest.raises(RecipeError, match="template name"):
        CommandRecipe("Bad_Name", recipes["command-copy"].template)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["level", "other"]),
                       st.one_of(st.text(alphabet="0123456789a\0", max_size=3), st.integers(0, 9), st.none())))
def test_canonical_options_accept_exactly_valid_values(options: dict[str, Any]) -> None:
    level = options.get("level", "6")
    valid = set(options) <= {"level"} and isinstance(level, str) and len(level) == 1 and level in "123456789"
    if valid:
        assert GZIP.canonical_options(options) == {"level": level}
        assert GZIP.canonical_options(GZIP.canonical_options(options)) == {"level": level}
    else:
        with pytest.raises(RecipeError, match="command-gzip: "):
            GZIP.canonical_options(options)
