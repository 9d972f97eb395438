"""Read-only and cleaning commands never create a cache where none is: a mistyped --cache-dir is
reported, not silently turned into an empty cache."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.__main__ import build_app
from proxy.cli import commands


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("argv", [["ls"], ["ls", "--pinned"], ["gc"], ["gc", "--dry-run"]])
def test_a_missing_cache_dir_is_reported_and_not_created(tmp_path: Path, argv: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "cahce"
    assert commands.main([*argv, "--cache-dir", str(typo)], build_app) == 2
    assert not typo.exists()
    assert capsys.readouterr().err.strip() == f"modelmanager {argv[0]}: --cache-dir {typo} does not exist"


@pytest.mark.parametrize("argv", [["ls"], ["gc"]])
def test_a_directory_without_a_cache_is_left_alone(tmp_path: Path, argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a cache")
    before = tree(tmp_path)
    assert commands.main([*argv, "--cache-dir", str(tmp_path)], build_app) == 2
    assert tree(tmp_path) == before
    assert "holds no cache" in capsys.readouterr().err


def test_ls_reads_an_existing_cache_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    (cache / "index").mkdir(parents=True)
    before = tree(cache)
    assert commands.main(["ls", "--cache-dir", str(cache)], build_app) == 0
    assert commands.main(["ls", "--pinned", "--cache-dir", str(cache)], build_app) == 0
    assert tree(cache) == before
    assert "0 entries" in capsys.readouterr().err


BIN = Path(sys.executable).parent / "modelmanager"


@pytest.mark.parametrize(("argv", "expected"), [
    (["--port", "99999"], "modelmanager: invalid --port (MODELMANAGER_PORT): Input should be less than or equal to "
                          "65535"),
    (["--redis-url", "notaurl"], "modelmanager: invalid --redis-url (MODELMANAGER_REDIS_URL): must be a "
                                 "redis://host:port/db, rediss://… or unix://… URL"),
    (["--s3-upstream-endpoint", "s3.example.com"], "modelmanager: invalid --s3-upstream-endpoint "
     "(MODELMANAGER_S3_UPSTREAM_ENDPOINT): must be an http:// or https:// URL with a host, not 's3.example.com'"),
])
def test_invalid_settings_are_one_line_naming_the_flag(tmp_path: Path, argv: list[str], expected: str) -> None:
    done = subprocess.run([str(BIN), "serve", "--cache-dir", str(tmp_path / "c"), *argv], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == expected
    assert not (tmp_path / "c").exists()


def test_a_cache_dir_that_is_a_file_or_unwritable_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = subprocess.run([str(BIN), "serve", "--cache-dir", str(tmp_path / "file")], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (2, f"modelmanager: --cache-dir {tmp_path / 'file'} is a "
                                                         "file, not a directory")
    done = subprocess.run([str(BIN), "serve", "--cache-dir", "/proc/modelmanager-cache"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("modelmanager: --cache-dir /proc/modelmanager-cache cannot be used: ")
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(BIN), "serve", "--cache-dir", str(tmp_path / "c"), "--port", str(port),
                               "--log-level", "error"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"modelmanager: cannot listen on 127.0.0.1:{port} (--host/--port): ")
    assert "Traceback" not in done.stderr


def test_unusable_s3_routes_are_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("buckets:\n  models:\n    upstream: https://s3.eu-west-1.amazonaws.com\n"
                      "  ckpt:\n    upstream: gs://my-checkpoints\n    region: eu-west-1\n")
    cases = [(["--s3-routes", str(routes)], f"modelmanager: {routes}:4: buckets.ckpt: Value error, region, "
              "bucket and credentials apply to S3 endpoints, not to gs:// targets (their credentials are the "
              "store's own, see docs/upstreams.md)"),
             (["--s3-route", "models"], "modelmanager: --s3-route 'models': expected BUCKET=TARGET (a bucket "
              "name or '*', then a URL)")]
    for argv, expected in cases:
        done = subprocess.run([str(BIN), "serve", "--cache-dir", str(tmp_path / "c"), "--log-level", "error", *argv],
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr.strip()) == (2, expected)
