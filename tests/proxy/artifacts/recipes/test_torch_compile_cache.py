"""``torch-compile-cache`` on CPU inductor: the saved cache makes a fresh process compile from cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipe import RecipeError
from proxy.artifacts.recipes.machine import Gpu
from proxy.artifacts.recipes.torch_compile_cache import TorchCompileCache, allowed, cxx_version, fingerprint
from tests.proxy.artifacts.recipes.child import build_in_child
from tests.proxy.artifacts.recipes.conftest import MakeJob
from tests.proxy.artifacts.recipes.torch_entry import mlp_state

ROOT = Path(__file__).resolve().parents[4]
RECIPE = TorchCompileCache(entry_modules=["tests.proxy.artifacts.recipes"])
ENTRY = "tests.proxy.artifacts.recipes.torch_entry:mlp"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.pt"
    torch.save(mlp_state(), path)
    return path


def probe(cache: Path, weights: Path, cache_dir: Path) -> dict[str, int]:
    """Inductor's counters in a fresh interpreter with an empty local cache, after loading ``cache``."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache_dir / "inductor"),
           "TRITON_CACHE_DIR": str(cache_dir / "triton"), "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "tests.proxy.artifacts.recipes.compile_probe", str(cache),
                          str(weights)], capture_output=True, text=True, env=env, timeout=280, check=True)
    counts: dict[str, int] = json.loads(run.stdout.splitlines()[-1])
    return counts


NO_CXX = "CPU inductor needs a C++ compiler and none is installed"


@pytest.mark.slow
@pytest.mark.skipif(cxx_version() is None, reason=NO_CXX)
def test_a_fresh_process_compiles_from_the_saved_cache(weights: Path, make_job: MakeJob, tmp_path: Path) -> None:
    job = make_job([weights], RECIPE.canonical_options({"entry": ENTRY, "device": "cpu"}))
    output = build_in_child(RECIPE, job)
    assert output == job.scratch / "torch-compile-cache.bin"
    assert output.stat().st_size > 0
    assert f"compiled {ENTRY}" in job.log.read_text()
    # the probe's inductor cache dir starts empty: a hit can only come from the saved cache
    warm = probe(output, weights, tmp_path / "warm")
    assert warm.get("fxgraph_cache_hit", 0) >= 1, warm
    assert warm.get("fxgraph_cache_miss", 0) == 0, warm


@pytest.mark.slow
@pytest.mark.skipif(cxx_version() is None, reason=NO_CXX)
def test_the_cache_dir_package_carries_compiled_kernels(weights: Path, make_job: MakeJob, tmp_path: Path) -> None:
    job = make_job([weights], RECIPE.canonical_options({"entry": ENTRY, "device": "cpu", "package": "cache-dir"}))
    output = build_in_child(RECIPE, job)
    assert output == job.scratch / "torch-compile-cache.tar"
    with tarfile.open(output) as tar:
        names = tar.getnames()
    assert any(name.startswith("inductor/fxgraph/") for name in names)
    assert any(name.endswith(".so") for name in names), "CPU inductor's compiled kernels travel in the tar"
    assert not [name for name in names if name.endswith(".lock")]
    warm = probe(output, weights, tmp_path / "warm")
    assert warm.get("fxgraph_cache_hit", 0) >= 1, warm
    assert warm.get("fxgraph_cache_miss", 0) == 0, warm


def test_an_entry_outside_the_allowed_modules_is_refused(weights: Path, make_job: MakeJob) -> None:
    job = make_job([weights], RECIPE.canonical_options({"entry": "os:system"}))
    with pytest.raises(RecipeError, match="not in an allowed module"):
        RECIPE.build(job)
    assert TorchCompileCache().available() == "no entry-point module is allowed (set MODELMANAGER_RECIPE_TORCH_MODULES)"


def test_allowed_matches_whole_module_names() -> None:
    assert allowed("team.models:build", ["team"])
    assert allowed("team.models:build", ["team.models"])
    assert not allowed("teamwork:build", ["team"])
    assert not allowed("os:system", [])


def test_target_is_stable_and_follows_its_inputs() -> None:
    assert RECIPE.target() == RECIPE.target()
    assert RECIPE.target()["torch"] == torch.__version__
    cpu = {"cpu.arch": "x86_64", "cpu.isa": "avx2,fma"}
    h200 = Gpu("NVIDIA H200", "9.0", "580.95.05", "13.0")
    base = fingerprint("2.11.0+cu130", "13.0", "3.5.0", h200, cpu, "g++ 13.2")
    assert base == fingerprint("2.11.0+cu130", "13.0", "3.5.0", Gpu("NVIDIA H200", "9.0", "575.0", "13.0"), cpu,
                               "g++ 13.2"), "the driver does not change Triton's kernels"
    for other in (fingerprint("2.12.0+cu130", "13.0", "3.5.0", h200, cpu, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "12.8", "3.5.0", h200, cpu, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "13.0", "3.6.0", h200, cpu, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "13.0", "3.5.0", Gpu("NVIDIA H100", "9.0", "x", "13.0"), cpu, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "13.0", "3.5.0", None, cpu, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "13.0", "3.5.0", h200, {**cpu, "cpu.isa": "avx2"}, "g++ 13.2"),
                  fingerprint("2.11.0+cu130", "13.0", "3.5.0", h200, cpu, "g++ 14.1")):
        assert other != base


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"entry": st.one_of(st.from_regex(r"[a-z_.:]{0,12}", fullmatch=True),
                                                 st.just("pkg.mod:fn"), st.integers())},
                             optional={"device": st.sampled_from(["auto", "cpu", "cuda", "tpu"]),
                                       "dynamic": st.one_of(st.none(), st.booleans(), st.just("yes"))}))
def test_canonical_options_accept_exactly_valid_values(options: dict[str, Any]) -> None:
    import re

    entry = options["entry"]
    valid = (isinstance(entry, str)
             and re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", entry, re.ASCII) is not None
             and options.get("device", "auto") != "tpu" and options.get("dynamic") != "yes")
    if valid:
        canonical = RECIPE.canonical_options(options)
        assert RECIPE.canonical_options(canonical) == canonical
        assert canonical["mode"] == "default"
    else:
        with pytest.raises(RecipeError, match="torch-compile-cache: "):
            RECIPE.canonical_options(options)
