"""The Triton verbs against the emulator (HTTP and gRPC): load/unload, enable/disable (moves plus
unload/load), config, list, copy-config; Triton's own message on a failed load; one clear line and
exit status 3 when Triton is unreachable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.client.triton.conftest import Emulator, triton_cli

CONFIG = 'backend: "onnxruntime"\nmax_batch_size: 4\n'


def lay(repo: Path, name: str, versions: dict[int, bytes], config: str = CONFIG) -> None:
    (repo / name).mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    for number, body in versions.items():
        (repo / name / str(number)).mkdir()
        (repo / name / str(number) / "model.onnx").write_bytes(body)


@pytest.fixture(params=["http", "grpc"])
def url(request: pytest.FixtureRequest, emulator: Emulator) -> str:
    return emulator.http_url if request.param == "http" else emulator.grpc_url


async def test_load_unload_config_and_list(url: str, emulator: Emulator) -> None:
    repo = emulator.core.repository
    lay(repo, "a", {1: b"one", 2: b"two"})
    ran = await triton_cli("--triton-url", url, "load", "a")
    assert (ran.code, ran.out.strip()) == (0, "loaded a")
    assert emulator.core.ready_versions("a") == [2]  # the default policy: the latest version
    config = await triton_cli("--triton-url", url, "config", "a")
    assert '"max_batch_size": 4' in config.out
    listed = await triton_cli("--triton-url", url, "--repository", str(repo), "--models", str(repo / "none.toml"),
                              "list")
    assert "a\trepository\t1,2\t2:READY" in listed.out
    ran = await triton_cli("--triton-url", url, "unload", "a")
    assert ran.code == 0
    assert emulator.core.ready_versions("a") == []
    assert emulator.core.calls == [("load", "a"), ("unload", "a")]


async def test_enable_and_disable_move_the_model_and_unload_and_load_it(url: str, emulator: Emulator) -> None:
    repo = emulator.core.repository
    lay(repo, "m", {1: b"weights"})
    emulator.core.load("m")
    ran = await triton_cli("--triton-url", url, "--repository", str(repo), "disable", "m")
    assert ran.code == 0, ran.err
    assert not (repo / "m").exists()
    assert (repo.with_name("repo-disabled") / "m" / "1" / "model.onnx").read_bytes() == b"weights"
    assert emulator.core.ready_versions("m") == []
    assert {r["name"] for r in emulator.core.index()} == {"m"}  # known, no longer on disk nor ready
    ran = await triton_cli("--triton-url", url, "--repository", str(repo), "enable", "m")
    assert ran.code == 0, ran.err
    assert (repo / "m" / "1" / "model.onnx").read_bytes() == b"weights"
    assert emulator.core.ready_versions("m") == [1]
    again = await triton_cli("--triton-url", url, "--repository", str(repo), "enable", "m")
    assert again.code == 1
    assert "no model 'm' in the disabled models" in again.err


async def test_a_failed_load_shows_tritons_message_and_enable_puts_the_model_back(
        url: str, emulator: Emulator) -> None:
    repo = emulator.core.repository
    lay(repo, "broken", {1: b""})  # an empty model file: the backend cannot load it
    ran = await triton_cli("--triton-url", url, "load", "broken")
    assert ran.code == 1
    assert "load failed for model 'broken': version 1 is at UNAVAILABLE state: Internal:" in ran.err
    unknown = await triton_cli("--triton-url", url, "load", "nope")
    assert unknown.code == 1
    assert "failed to load 'nope', failed to poll from model repository" in unknown.err
    disabled = repo.with_name("repo-disabled")
    lay(disabled, "bad", {1: b""})
    ran = await triton_cli("--triton-url", url, "--repository", str(repo), "enable", "bad")
    assert ran.code == 1
    assert "load failed for model 'bad'" in ran.err
    assert (disabled / "bad").is_dir()
    assert not (repo / "bad").exists()
    config = await triton_cli("--triton-url", url, "config", "nope")
    assert config.code == 1
    assert "Request for unknown model: 'nope' is not found" in config.err


@pytest.mark.parametrize("scheme", ["http", "grpc"])
async def test_unreachable_triton_is_one_line_and_exit_status_3(scheme: str, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    ran = await triton_cli("--triton-url", f"{scheme}://127.0.0.1:{port}", "load", "m")
    assert ran.code == 3
    assert f"Triton at {scheme}://127.0.0.1:{port} is unreachable" in ran.err
    assert "Traceback" not in ran.err
    assert len(ran.err.strip().splitlines()) == 1
    listed = await triton_cli("--triton-url", f"{scheme}://127.0.0.1:{port}", "--repository", str(tmp_path),
                              "--models", str(tmp_path / "none.toml"), "list")
    assert listed.code == 0
    assert "Triton unreachable" in listed.err


async def test_copy_config_writes_the_cpu_variant_where_the_model_is(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    lay(repo, "on", {1: b"x"})
    lay(repo.with_name("repo-disabled"), "off", {1: b"y"})
    (tmp_path / "gpu.pbtxt").write_text("gpu")
    (tmp_path / "cpu.pbtxt").write_text("cpu")
    models = tmp_path / "models.toml"
    models.write_text('[models.on]\nsource = "hf://o/on"\nconfig = "gpu.pbtxt"\ncpu_config = "cpu.pbtxt"\n'
                      '[models.off]\nsource = "hf://o/off"\nconfig = "gpu.pbtxt"\n')
    ran = await triton_cli("--models", str(models), "--repository", str(repo), "copy-config", "--cpu")
    assert ran.code == 0, ran.err
    assert (repo / "on" / "config.pbtxt").read_text() == "cpu"
    assert (repo.with_name("repo-disabled") / "off" / "config.pbtxt").read_text() == "gpu"  # no CPU variant
    ran = await triton_cli("--models", str(models), "--repository", str(repo), "copy-config")
    assert (repo / "on" / "config.pbtxt").read_text() == "gpu"


async def test_unknown_model_in_include_is_an_error_naming_the_models(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text('[models.a]\nsource = "hf://o/a"\n[models.b]\nsource = "hf://o/b"\n')
    ran = await triton_cli("--models", str(models), "--repository", str(tmp_path / "r"), "sync", "--include", "c")
    assert ran.code == 2
    assert "no model 'c' (it has a, b)" in ran.err


async def test_a_version_directory_missing_its_model_file_fails_and_the_loaded_one_keeps_serving(
        url: str, emulator: Emulator) -> None:
    repo = emulator.core.repository
    lay(repo, "m", {1: b"weights"})
    assert (await triton_cli("--triton-url", url, "load", "m")).code == 0
    (repo / "m" / "2").mkdir()  # what a copy in place would leave for a while: a version without its file
    ran = await triton_cli("--triton-url", url, "load", "m")
    assert ran.code == 1
    assert "version 2 is at UNAVAILABLE state: Internal: unable to find" in ran.err
    assert emulator.core.ready_versions("m") == [1]
