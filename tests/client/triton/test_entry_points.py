"""The Triton commands as installed: ``modelmanager triton`` (the server's CLI hands over to the
client's), ``modelmanager-client triton`` and ``python -m modelmanager_client triton``, in
subprocesses against the Triton emulator."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.client.triton.conftest import Emulator
from tests.client.triton.test_commands import lay

BIN = Path(sys.executable).parent


async def run(*argv: str) -> tuple[int, str, str]:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "client")])}
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_every_entry_point_loads_and_reports(emulator: Emulator) -> None:
    lay(emulator.core.repository, "m", {1: b"weights"})
    entry_points = [[str(BIN / "modelmanager"), "triton"], [str(BIN / "modelmanager-client"), "triton"],
                    [sys.executable, "-m", "modelmanager_client", "triton"]]
    for prefix in entry_points:
        code, out, err = await run(*prefix, "--triton-url", emulator.grpc_url, "load", "m")
        assert (code, out.strip()) == (0, "loaded m"), err
    assert emulator.core.calls == [("load", "m")] * 3
    code, out, _ = await run(str(BIN / "modelmanager"), "triton", "--triton-url", emulator.http_url, "status")
    assert code == 0
    assert "m\t1\tREADY" in out
    code, out, _ = await run(str(BIN / "modelmanager"), "--help")
    assert "triton" in out


async def test_a_bad_models_file_exits_2_naming_line_and_key(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text('[models.a]\nsource = "hf://o/a"\nversions = { 1 = "hf://o/a@v1" }\n')
    code, _, err = await run(str(BIN / "modelmanager"), "triton", "--models", str(models), "sync")
    assert code == 2
    assert err.strip() == f"triton: {models}:1: models.a: give either source (and version) or a versions table"
