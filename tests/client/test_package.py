"""The package: its public API is exactly what __all__ lists, and it imports without the server,
aiohttp or torch."""

from __future__ import annotations

import subprocess
import sys

import modelmanager_client


def test_public_api() -> None:
    assert sorted(modelmanager_client.__all__) == [
        "AccessDenied", "BuildFailed", "ClientError", "DownloadInfo", "IntegrityError", "NoBuildWorker", "NotFound",
        "Offline", "ProxyUnavailable",
        "get_artifact", "load_safetensors", "modelmanager_download", "modelmanager_snapshot"]
    for name in modelmanager_client.__all__:
        assert getattr(modelmanager_client, name).__module__.startswith("modelmanager_client.")


def test_imports_without_server_code_aiohttp_or_torch() -> None:
    script = ("import sys, modelmanager_client, modelmanager_client.cli\n"
              "bad = [m for m in ('proxy', 'adapters', 'aiohttp', 'torch', 'huggingface_hub', 'requests') "
              "if m in sys.modules]\n"
              "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"
